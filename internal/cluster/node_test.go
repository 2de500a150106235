package cluster_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/webhook"
)

func TestNewRejectsBadConfig(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	tests := []struct {
		name string
		cfg  cluster.Config
		want string
	}{
		{"no brokers", cluster.Config{Local: rl}, "Brokers"},
		{"no local", cluster.Config{Brokers: []string{"127.0.0.1:1"}}, "Local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cluster.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestNodeBeforeStartAndAfterClose(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	n, err := cluster.New(cluster.Config{Brokers: []string{"127.0.0.1:1"}, Local: rl})
	if err != nil {
		t.Fatal(err)
	}
	if n.Owns("track") {
		t.Error("Owns before Start = true")
	}
	rl.Sent("k")
	n.Record(delivery("k"))
	n.Record(delivery("early")) // not pending: kept locally, no Kafka
	if got := len(rl.Received("k")); got != 1 {
		t.Errorf("Record before Start: %d deliveries for a pending key, want 1", got)
	}
	if err := n.Sync(context.Background()); err == nil {
		t.Error("Sync before Start: want an error")
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := n.Start(context.Background(), nil, nil); err == nil {
		t.Error("Start after Close: want an error")
	}
}

func TestStartGivesUpWithItsContext(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	n, err := cluster.New(cluster.Config{Brokers: []string{"127.0.0.1:1"}, Local: rl})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := n.Start(ctx, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with no Kafka: got %v, want DeadlineExceeded", err)
	}
}

func TestStartTwice(t *testing.T) {
	broker := startBroker(t)
	n := startNode(t, broker.Brokers(), uniqueTopic("twice"), "a", nil)
	if err := n.Start(context.Background(), nil, nil); err == nil {
		t.Fatal("second Start: want an error")
	}
}

func counter(h *statstest.Handler, name string, tags ...stats.Tag) float64 {
	var sum float64
	for _, m := range h.Measures() {
		for _, f := range m.Fields {
			if m.Name+"."+f.Name != name {
				continue
			}
			ok := true
			for _, want := range tags {
				found := false
				for _, tag := range m.Tags {
					found = found || tag == want
				}
				ok = ok && found
			}
			if ok {
				switch v := f.Value; v.Type() {
				case stats.Int:
					sum += float64(v.Int())
				case stats.Uint:
					sum += float64(v.Uint())
				default:
					sum += v.Float()
				}
			}
		}
	}
	return sum
}

// TestKafkaOutage stops the broker under two replicas: a delivery that needs
// the relay fails within PublishTimeout, is counted and explained by Err, and
// the relay works again by itself once a broker is back on the same address.
func TestKafkaOutage(t *testing.T) {
	dir := t.TempDir()
	b1, err := embedkafka.Start(embedkafka.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := b1.Addr()
	t.Cleanup(b1.Close)
	metrics := &statstest.Handler{}
	topic := uniqueTopic("outage")
	a := startNode(t, b1.Brokers(), topic, "a", nil)
	b := startNode(t, b1.Brokers(), topic, "b", func(c *cluster.Config) {
		c.PublishTimeout = time.Second
		c.Stats = stats.NewEngine("", metrics)
	})
	roundTrip := func(key string, d time.Duration) error {
		if err := a.Local().Sent(key); err != nil {
			return err
		}
		defer a.Local().Delete(key)
		b.Record(delivery(key))
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := a.Local().Wait(ctx, key)
		return err
	}
	if err := roundTrip("before", 10*time.Second); err != nil {
		t.Fatalf("relay before the outage: %v", err)
	}

	b1.Close()
	start := time.Now()
	if err := roundTrip("during", 500*time.Millisecond); err == nil {
		t.Fatal("a relayed delivery arrived with Kafka down")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Record blocked %v with Kafka down, want about PublishTimeout (1s)", el)
	}
	// The webhook calls RecordChecked: the failure must reach it, so it answers 503 and the
	// pipeline retries instead of the delivery being lost.
	if err := b.RecordChecked(delivery("during-checked")); err == nil {
		t.Error("RecordChecked reported no error with Kafka down")
	}
	rec := httptest.NewRecorder()
	webhook.New(webhook.Config{Logger: b}).ServeHTTP(rec,
		httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(delivery("during-http").Body)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("webhook answered %d with Kafka down, want 503", rec.Code)
	}
	if got := counter(metrics, "cluster.relay_errors_total"); got < 1 {
		t.Errorf("cluster.relay_errors_total = %v, want ≥ 1", got)
	}
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "relay") {
		t.Errorf("Err during the outage = %v, want the relay error", err)
	}

	b2, err := embedkafka.Start(embedkafka.Config{Addr: addr, DataDir: dir})
	if err != nil {
		t.Fatalf("restart broker on %s: %v", addr, err)
	}
	t.Cleanup(b2.Close)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := roundTrip("after"+time.Now().Format("150405.000000"), 2*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay did not recover within 30s of Kafka's return: %v", err)
		}
	}
	if err := b.Err(); err != nil && strings.Contains(err.Error(), "relay") {
		t.Errorf("Err after recovery still reports %v", err)
	}
}

// receiptsEnd returns the sum of the end offsets of the receipts topic of the
// cluster named topic: how many receipts were ever published.
func receiptsEnd(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sum int64
	// Routed receipts and broadcast ones.
	for _, name := range []string{topic + "-receipts", topic + "-broadcast"} {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
		if err != nil || len(md.Topics) != 1 {
			t.Fatalf("metadata of %s: %v", name, err)
		}
		var reqs []kafka.OffsetRequest
		for _, p := range md.Topics[0].Partitions {
			reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		}
		resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{name: reqs}})
		if err != nil {
			t.Fatalf("offsets of %s: %v", name, err)
		}
		for _, po := range resp.Topics[name] {
			if po.Error != nil {
				t.Fatalf("offsets of %s/%d: %v", name, po.Partition, po.Error)
			}
			sum += po.LastOffset
		}
	}
	return sum
}

// TestLocalMatchSkipsKafka: a delivery that reaches the replica whose test
// waits for its key is matched there without a receipt being published, and
// so still matches while Kafka is down; a delivery for a key pending
// elsewhere is published.
func TestLocalMatchSkipsKafka(t *testing.T) {
	broker, err := embedkafka.Start(embedkafka.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	topic := uniqueTopic("local")
	metrics := &statstest.Handler{}
	a := startNode(t, broker.Brokers(), topic, "a", func(c *cluster.Config) { c.Stats = stats.NewEngine("", metrics) })
	b := startNode(t, broker.Brokers(), topic, "b", nil)

	before := receiptsEnd(t, broker.Brokers(), topic)
	a.Local().Sent("mine")
	if err := a.RecordChecked(delivery("mine")); err != nil {
		t.Fatalf("RecordChecked of a locally pending key: %v", err)
	}
	if got := len(a.Local().Received("mine")); got != 1 {
		t.Fatalf("Received right after Record: %d deliveries, want 1 (matched locally, synchronously)", got)
	}
	if c := a.Counts(); c.Local != 1 || c.Relayed != 0 {
		t.Errorf("counts after a local match: %+v, want Local 1, Relayed 0", c)
	}
	if got := counter(metrics, "cluster.local_total"); got != 1 {
		t.Errorf("cluster.local_total = %v, want 1", got)
	}
	if after := receiptsEnd(t, broker.Brokers(), topic); after != before {
		t.Errorf("a local match published %d receipts, want none", after-before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(b.Local().Received("mine")); got != 0 {
		t.Errorf("the other replica recorded the local match %d times, want 0", got)
	}

	// The contrast: a key pending nowhere on a is published.
	if err := a.RecordChecked(delivery("theirs")); err != nil {
		t.Fatalf("RecordChecked of a key pending elsewhere: %v", err)
	}
	if after := receiptsEnd(t, broker.Brokers(), topic); after != before+1 {
		t.Errorf("a delivery for a key not pending here published %d receipts, want 1", after-before)
	}

	// Without Kafka, a local match still works at once.
	broker.Close()
	a.Local().Sent("offline")
	if err := a.RecordChecked(delivery("offline")); err != nil {
		t.Errorf("RecordChecked of a locally pending key with Kafka down: %v (want a match without Kafka)", err)
	}
	if got := len(a.Local().Received("offline")); got != 1 {
		t.Errorf("Received with Kafka down: %d deliveries, want 1", got)
	}
}
