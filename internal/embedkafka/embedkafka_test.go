package embedkafka_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/segmentio/kafka-go"
)

func start(t *testing.T, cfg embedkafka.Config) *embedkafka.Broker {
	t.Helper()
	b, err := embedkafka.Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func write(t *testing.T, ctx context.Context, brokers []string, topic string, values ...string) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Key: []byte(v), Value: []byte(v)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
}

func newGroupReader(brokers []string, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:          brokers,
		Topic:            topic,
		GroupID:          group,
		StartOffset:      kafka.FirstOffset,
		MaxWait:          100 * time.Millisecond,
		JoinGroupBackoff: 100 * time.Millisecond,
	})
}

// readN fetches n messages through a consumer group and commits them.
func readN(t *testing.T, ctx context.Context, r *kafka.Reader, n int) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage after %d of %d: %v", len(got), n, err)
		}
		got[string(m.Value)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("CommitMessages: %v", err)
		}
	}
	return got
}

func TestConsumerGroupRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := start(t, embedkafka.Config{Topics: []string{"events"}})
	if got := b.Brokers(); len(got) != 1 || got[0] != b.Addr() {
		t.Fatalf("Brokers() = %v, Addr() = %q", got, b.Addr())
	}

	values := []string{"a", "b", "c", "d", "e", "f"}
	write(t, ctx, b.Brokers(), "events", values...)

	r := newGroupReader(b.Brokers(), "events", "g")
	defer r.Close()
	got := readN(t, ctx, r, len(values))
	for _, v := range values {
		if !got[v] {
			t.Errorf("message %q not consumed; got %v", v, got)
		}
	}

	conn, err := kafka.DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions("events")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Errorf("events has %d partitions, want the default 3", len(parts))
	}
}

func TestRestartOnSameAddressWithDataDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := embedkafka.Config{Addr: addr, Topics: []string{"t"}, Partitions: 1, DataDir: dir}

	first := start(t, cfg)
	write(t, ctx, first.Brokers(), "t", "before-1", "before-2")
	r := newGroupReader(first.Brokers(), "t", "g")
	readN(t, ctx, r, 2)
	r.Close()
	first.Close()
	first.Close() // idempotent

	second := start(t, cfg)
	if second.Addr() != addr {
		t.Fatalf("restarted broker on %s, want %s", second.Addr(), addr)
	}
	write(t, ctx, second.Brokers(), "t", "after")
	r = newGroupReader(second.Brokers(), "t", "g")
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatalf("FetchMessage after restart: %v", err)
	}
	if string(m.Value) != "after" {
		t.Fatalf("after restart the group read %q; want %q (committed offsets lost?)", m.Value, "after")
	}
}

func TestStartErrors(t *testing.T) {
	b := start(t, embedkafka.Config{})
	tests := []struct {
		name string
		addr string
	}{
		{"malformed address", "not-an-address"},
		{"address in use", b.Addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := embedkafka.Start(embedkafka.Config{Addr: tt.addr})
			if err == nil {
				got.Close()
				t.Fatalf("Start(%q) succeeded, want an error", tt.addr)
			}
			var opErr *net.OpError
			if tt.name == "address in use" && !errors.As(err, &opErr) {
				t.Errorf("error %v does not wrap the listen error", err)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
