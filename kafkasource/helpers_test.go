package kafkasource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/kafkasource"
)

var topicSeq atomic.Int64

// newTopic creates a fresh topic with n partitions on brokers.
func newTopic(t *testing.T, brokers []string, n int) string {
	t.Helper()
	name := fmt.Sprintf("out-%d", topicSeq.Add(1))
	testsupport.CreateTopic(t, brokers, name, n)
	return name
}

// newWriter returns a writer to topic that returns once the broker has
// the messages, spreading them over partitions by key.
func newWriter(t *testing.T, brokers []string, topic string) *kafka.Writer {
	t.Helper()
	return testsupport.NewWriter(t, brokers, topic)
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
