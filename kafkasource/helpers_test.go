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

// start starts a source with cfg (Brokers filled in) and closes it when
// the test ends.
func start(t *testing.T, cfg kafkasource.Config) *kafkasource.Source {
	t.Helper()
	s, err := kafkasource.New(cfg)
	testsupport.Start(t, s, err)
	return s
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
