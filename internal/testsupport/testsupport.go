// Package testsupport holds the helpers the tests of several packages share: a buffer safe
// for concurrent writers, an in-process Kafka broker per test, its topics and writers, and
// the samples of a /metrics handler.
package testsupport

import (
	"bytes"
	"sync"
	"testing"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
)

// SyncBuffer is a bytes.Buffer safe for concurrent use, for a logger or a command's output
// that a test reads while it is written. The zero value is ready to use.
type SyncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // capacity 1, made on first use
}

// Write appends p and signals Wrote.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wroteLocked() <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Wrote receives a value after writes (at most one pending): wait on it for new output
// instead of polling.
func (s *SyncBuffer) Wrote() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wroteLocked()
}

func (s *SyncBuffer) wroteLocked() chan struct{} {
	if s.wrote == nil {
		s.wrote = make(chan struct{}, 1)
	}
	return s.wrote
}

// StartBroker starts an in-process Kafka broker on a free loopback port, closed when the test
// ends.
func StartBroker(t testing.TB) *embedkafka.Broker {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{})
	if err != nil {
		t.Fatalf("embedkafka.Start: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}
