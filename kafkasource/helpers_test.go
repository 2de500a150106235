package kafkasource_test

import (
	"bufio"
	"context"
	"errors"
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
	"github.com/orbital-e2e/orbital/kafkasource"
	"github.com/orbital-e2e/orbital/orbital/metrics"
)

var topicSeq atomic.Int64

// newTopic creates a fresh topic with n partitions on brokers.
func newTopic(t *testing.T, brokers []string, n int) string {
	t.Helper()
	name := fmt.Sprintf("out-%d", topicSeq.Add(1))
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := c.CreateTopics(t.Context(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
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

// newWriter returns a writer to topic that returns once the broker has
// the messages, spreading them over partitions by key.
func newWriter(t *testing.T, brokers []string, topic string) *kafka.Writer {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func produce(t *testing.T, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// start starts a source with cfg (Brokers filled in) and closes it when
// the test ends.
func start(t *testing.T, cfg kafkasource.Config) *kafkasource.Source {
	t.Helper()
	s, err := kafkasource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func syncSource(t *testing.T, s *kafkasource.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
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
func broker(t *testing.T) []string {
	t.Helper()
	return testsupport.StartBroker(t).Brokers()
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// httptestPost posts body to h as a pipeline would and returns the status.
func httptestPost(t *testing.T, h http.Handler, body string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body)))
	return rec.Code
}
