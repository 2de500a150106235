package kafkatap_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/kafkatap"
)

var topicSeq atomic.Int64

// newTopic creates a fresh topic named prefix-N+suffix with n partitions.
func newTopic(t testing.TB, brokers []string, prefix, suffix string, n int) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d%s", prefix, topicSeq.Add(1), suffix)
	testsupport.CreateTopic(t, brokers, name, n)
	return name
}

// newWriter returns a writer to topic that returns once the broker has the
// records, spreading them over partitions by key.
func newWriter(t testing.TB, brokers []string, topic string) *kafka.Writer {
	t.Helper()
	w := testsupport.NewWriter(t, brokers, topic)
	w.BatchSize = 1000
	return w
}

// start starts a tap with cfg and closes it when the test ends.
func start(t testing.TB, cfg kafkatap.Config) *kafkatap.Tap {
	t.Helper()
	tap, err := kafkatap.New(cfg)
	testsupport.Start(t, tap, err)
	return tap
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

// broker is one in-process broker per test.
func broker(t testing.TB) []string {
	t.Helper()
	return testsupport.StartBroker(t).Brokers()
}
