package kafkatap_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital/metrics"
)

var topicSeq atomic.Int64

// newTopic creates a fresh topic named prefix-N+suffix with n partitions.
func newTopic(t testing.TB, brokers []string, prefix, suffix string, n int) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d%s", prefix, topicSeq.Add(1), suffix)
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := c.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: name, NumPartitions: n, ReplicationFactor: 1},
	}})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// newWriter returns a writer to topic that returns once the broker has the
// records, spreading them over partitions by key.
func newWriter(t testing.TB, brokers []string, topic string) *kafka.Writer {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    1000,
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func produce(t testing.TB, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// start starts a tap with cfg and closes it when the test ends.
func start(t testing.TB, cfg kafkatap.Config) *kafkatap.Tap {
	t.Helper()
	tap, err := kafkatap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tap.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return tap
}

func syncTap(t testing.TB, tap *kafkatap.Tap) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tap.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func watch(t testing.TB, tap *kafkatap.Tap, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := tap.Watch(k); err != nil {
			t.Fatalf("Watch(%q): %v", k, err)
		}
	}
}

// readAt reads the record at topic/partition/offset back from the broker.
func readAt(t *testing.T, brokers []string, topic string, partition int, offset int64) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read %s/%d@%d back: %v", topic, partition, offset, err)
	}
	return m
}

// scrape returns the samples /metrics serves, by series ("name{labels}").
func scrape(t *testing.T, h *metrics.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func wantSample(t *testing.T, got map[string]float64, series string, want float64) {
	t.Helper()
	v, ok := got[series]
	if !ok {
		t.Errorf("no series %s in /metrics; have %v", series, got)
	} else if v != want {
		t.Errorf("%s = %v, want %v", series, v, want)
	}
}

// broker is one in-process broker per test.
func broker(t testing.TB) []string {
	t.Helper()
	return testsupport.StartBroker(t).Brokers()
}
