package embedkafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
)

// offsets returns the first and the next (high watermark) offsets of a
// partition.
func offsets(t *testing.T, ctx context.Context, c *kafka.Client, topic string, partition int) (first, next int64) {
	t.Helper()
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)},
	}})
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == partition {
			if p.Error != nil {
				t.Fatalf("ListOffsets %s/%d: %v", topic, partition, p.Error)
			}
			return p.FirstOffset, p.LastOffset
		}
	}
	t.Fatalf("ListOffsets: no answer for %s/%d in %+v", topic, partition, res.Topics)
	return 0, 0
}

// waitFirstOffset polls the partition's first offset until done accepts it or
// ctx ends.
func waitFirstOffset(t *testing.T, ctx context.Context, c *kafka.Client, topic string, done func(first, next int64) bool) (first, next int64) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		first, next = offsets(t, ctx, c, topic, 0)
		if done(first, next) {
			return first, next
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: first offset %d, next %d when the deadline passed", topic, first, next)
		case <-tick.C:
		}
	}
}

// writeEach writes n values of size bytes, one batch each.
func writeEach(t *testing.T, ctx context.Context, brokers []string, topic string, n, size int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	v := []byte(strings.Repeat("x", size))
	for i := range n {
		if err := w.WriteMessages(ctx, kafka.Message{Value: v}); err != nil {
			t.Fatalf("WriteMessages %d: %v", i, err)
		}
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name string
		cfg  embedkafka.Config
		// createLater creates the topic through CreateTopics after the
		// broker started, as a client would.
		createLater bool
		n, size     int
		// done reports whether retention did its job.
		done func(first, next int64) bool
	}{
		{
			name: "time, seeded topic",
			cfg:  embedkafka.Config{Topics: []string{"t"}, Partitions: 1, Retention: time.Second},
			n:    5, size: 10,
			done: func(first, next int64) bool { return next == 5 && first == next },
		},
		{
			name:        "time, topic created later by a client",
			cfg:         embedkafka.Config{Partitions: 1, Retention: time.Second},
			createLater: true,
			n:           5, size: 10,
			done: func(first, next int64) bool { return next == 5 && first == next },
		},
		{
			name:        "bytes, topic created later by a client",
			cfg:         embedkafka.Config{Partitions: 1, Retention: -1, RetentionBytes: 16 << 10},
			createLater: true,
			n:           64, size: 1 << 10,
			// 64 batches of over 1 KiB: at most 16 KiB, so under 16
			// records, remain.
			done: func(first, next int64) bool { return next == 64 && first > 0 && next-first < 16 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			b := start(t, tt.cfg)
			c := &kafka.Client{Addr: kafka.TCP(b.Addr())}
			if tt.createLater {
				res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
					{Topic: "t", NumPartitions: 1, ReplicationFactor: 1},
				}})
				if err != nil {
					t.Fatalf("CreateTopics: %v", err)
				}
				if err := res.Errors["t"]; err != nil {
					t.Fatalf("CreateTopics t: %v", err)
				}
			}
			writeEach(t, ctx, b.Brokers(), "t", tt.n, tt.size)
			first, next := waitFirstOffset(t, ctx, c, "t", tt.done)
			t.Logf("first offset %d, next %d", first, next)

			// What is left is readable from the first offset on.
			if first < next {
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Brokers(), Topic: "t", Partition: 0, MaxWait: 100 * time.Millisecond})
				defer r.Close()
				if err := r.SetOffset(kafka.FirstOffset); err != nil {
					t.Fatal(err)
				}
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("ReadMessage: %v", err)
				}
				if m.Offset != first {
					t.Errorf("first message read at offset %d, want %d", m.Offset, first)
				}
			}
		})
	}
}

// TestDefaultRetentionKeepsRecentRecords checks that the default bound does
// not drop what was just written.
func TestDefaultRetentionKeepsRecentRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := start(t, embedkafka.Config{Topics: []string{"t"}, Partitions: 1})
	writeEach(t, ctx, b.Brokers(), "t", 3, 10)
	c := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	if first, next := offsets(t, ctx, c, "t", 0); first != 0 || next != 3 {
		t.Errorf("offsets [%d, %d), want [0, 3)", first, next)
	}
	if embedkafka.DefaultRetention != 10*time.Minute || embedkafka.DefaultRetentionBytes != 64<<20 {
		t.Errorf("defaults %s / %d bytes, want the documented 10m / 64 MiB", embedkafka.DefaultRetention, embedkafka.DefaultRetentionBytes)
	}
}
