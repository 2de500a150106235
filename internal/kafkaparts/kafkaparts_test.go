package kafkaparts_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/kafkaparts"
	"github.com/orbital-e2e/orbital/internal/testsupport"
)

type part struct{ kafkaparts.Partition }

func newClient(brokers []string) *kafkaparts.Client {
	return &kafkaparts.Client{
		Kafka:   &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second},
		Pkg:     "pkg",
		Brokers: brokers,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestCheckTopics(t *testing.T) {
	for _, c := range []struct {
		topics []string
		want   string
	}{
		{nil, "pkg: Config.Topics is empty"},
		{[]string{"a", ""}, "pkg: Config.Topics holds an empty topic name"},
		{[]string{"a", "b", "a"}, `pkg: Config.Topics names "a" twice`},
	} {
		if err := kafkaparts.CheckTopics("pkg", c.topics); err == nil || err.Error() != c.want {
			t.Errorf("CheckTopics(%q) = %v, want %s", c.topics, err, c.want)
		}
	}
	if err := kafkaparts.CheckTopics("pkg", []string{"a", "b"}); err != nil {
		t.Errorf("CheckTopics(a, b) = %v", err)
	}
}

// TestPartitionsAndOffsets discovers a real broker's partitions and lists
// their end offsets and offsets by time, then closes readers at them.
func TestPartitionsAndOffsets(t *testing.T) {
	brokers := testsupport.StartBroker(t).Brokers()
	testsupport.CreateTopic(t, brokers, "t", 2)
	c := newClient(brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ids, err := c.Partitions(ctx, "t")
	if err != nil || len(ids) != 2 || ids[0] != 0 || ids[1] != 1 {
		t.Fatalf("Partitions = %v, %v; want [0 1]", ids, err)
	}
	w := testsupport.NewWriter(t, brokers, "t")
	w.Balancer = &kafka.RoundRobin{}
	testsupport.Produce(t, w, kafka.Message{Value: []byte("1")}, kafka.Message{Value: []byte("2")}, kafka.Message{Value: []byte("3")})
	parts := []*part{{kafkaparts.Partition{Topic: "t", ID: 0}}, {kafkaparts.Partition{Topic: "t", ID: 1}}}
	ends, err := kafkaparts.Offsets(ctx, c, parts, time.Time{})
	if err != nil || ends[0]+ends[1] != 3 {
		t.Fatalf("end offsets = %v, %v; want 3 in all", ends, err)
	}
	later, err := kafkaparts.Offsets(ctx, c, parts, time.Now().Add(time.Hour))
	if err != nil || later[0] != -1 || later[1] != -1 {
		t.Fatalf("offsets an hour on = %v, %v; want -1, -1", later, err)
	}
	earlier, err := kafkaparts.Offsets(ctx, c, parts, time.Now().Add(-time.Hour))
	if err != nil || earlier[0] != 0 || earlier[1] != 0 {
		t.Fatalf("offsets an hour back = %v, %v; want 0, 0", earlier, err)
	}
	parts[1].Reader = kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "t", Partition: 1})
	if err := kafkaparts.CloseReaders(parts); err != nil {
		t.Fatalf("CloseReaders: %v", err)
	}
}

// TestRetryGivesUp retries a missing topic until the context ends, then
// until Done is closed, and names the cause.
func TestRetryGivesUp(t *testing.T) {
	brokers := testsupport.StartBroker(t).Brokers()
	c := newClient(brokers)
	var failures int
	c.Failed = func(what string, err error) { failures++ }
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Partitions(ctx, "missing")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "pkg: read partitions of missing on [") {
		t.Fatalf("Partitions of a missing topic = %v", err)
	}
	if failures == 0 {
		t.Error("Failed was not called")
	}
	done := make(chan struct{})
	close(done)
	c.Done, c.Closed = done, "owner closed"
	_, err = c.Partitions(t.Context(), "missing")
	if err == nil || err.Error() != "pkg: read partitions of missing: owner closed" {
		t.Fatalf("Partitions after Done = %v", err)
	}
}

// TestWait waits for a partition to reach its end as Notify reports
// progress, and gives up when ctx ends or done closes.
func TestWait(t *testing.T) {
	var g kafkaparts.Progress
	parts := []*part{{kafkaparts.Partition{Topic: "t", ID: 3}}}
	errc := make(chan error, 1)
	go func() { errc <- kafkaparts.Wait(t.Context(), &g, nil, parts, []int64{5}, "pkg", "closed") }()
	for off := int64(1); ; off++ {
		parts[0].Processed.Store(off)
		g.Notify()
		if off >= 5 {
			break
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := kafkaparts.Wait(ctx, &g, nil, parts, []int64{6}, "pkg", "closed")
	if err == nil || err.Error() != "pkg: Sync: t/3 at 5 of 6: context canceled" {
		t.Errorf("Wait after cancel = %v", err)
	}
	done := make(chan struct{})
	close(done)
	err = kafkaparts.Wait(t.Context(), &g, done, parts, []int64{6}, "pkg", "owner closed")
	if err == nil || err.Error() != "pkg: Sync: owner closed" {
		t.Errorf("Wait after done = %v", err)
	}
}
