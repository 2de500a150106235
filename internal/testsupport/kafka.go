package testsupport

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// CreateTopic creates topic name with n partitions on brokers, failing t
// on any error.
func CreateTopic(t testing.TB, brokers []string, name string, n int) {
	t.Helper()
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
}

// NewWriter returns a writer to topic, closed when the test ends, whose
// writes return once the broker has the messages; it spreads them over
// partitions by key.
func NewWriter(t testing.TB, brokers []string, topic string) *kafka.Writer {
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

// Scrape returns the samples a Prometheus text handler (h, on GET
// /metrics) serves, by series ("name{labels}").
func Scrape(t testing.TB, h http.Handler) map[string]float64 {
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

// WantSample reports an error unless got (from Scrape) holds series with
// the value want.
func WantSample(t testing.TB, got map[string]float64, series string, want float64) {
	t.Helper()
	v, ok := got[series]
	if !ok {
		t.Errorf("no series %s in /metrics; have %v", series, got)
	} else if v != want {
		t.Errorf("%s = %v, want %v", series, v, want)
	}
}

// Produce writes msgs with w, failing t unless the broker has them within
// 30 seconds.
func Produce(t testing.TB, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Service is what Start starts and Close stops: a kafkasource.Source, a
// kafkatap.Tap.
type Service interface {
	Start(context.Context) error
	Close() error
}

// Start fails t on err (from creating s), otherwise starts s within 10
// seconds, failing t if it cannot, and closes s when the test ends.
func Start(t testing.TB, s Service, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// Sync calls s.Sync with 10 seconds to go, failing t if it fails.
func Sync(t testing.TB, s interface{ Sync(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}
