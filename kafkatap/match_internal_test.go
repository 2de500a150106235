package kafkatap

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestIsDeadLetterTopic(t *testing.T) {
	for topic, want := range map[string]bool{
		"events-dead-letter": true, "events.dead-letter": true, "events_dead_letter": true,
		"orders.DLT": true, "orders-dlt": true, "events-DLQ": true, "events.dlq": true, "events_dlq": true,
		"events": false, "events-processed": false, "dlq": false, "-dlq": false, "dlq-events": false,
	} {
		if got := IsDeadLetterTopic(topic); got != want {
			t.Errorf("IsDeadLetterTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}

// The matching of one unwatched record carrying a messageId, against
// decoding its value with encoding/json (what matching by a decoded field
// would cost).
func BenchmarkMatch(b *testing.B) {
	v := []byte(`{"type":"track","event":"Load Test","userId":"user-42","properties":{"pad":"` +
		string(bytes.Repeat([]byte("x"), 300)) + `"},"messageId":"load-123"}`)
	tap, err := New(Config{Brokers: []string{"x:1"}, Topics: []string{"events"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := tap.Watch("watched"); err != nil {
		b.Fatal(err)
	}
	p := &partition{topic: "events"}
	m := kafkaMessage("load-123", v)
	b.Run("tap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tap.observe(p, &m)
		}
	})
	b.Run("baseline=json-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e struct {
				MessageID string `json:"messageId"`
			}
			if json.Unmarshal(v, &e) != nil || e.MessageID != "load-123" {
				b.Fatal("decode")
			}
		}
	})
}

func kafkaMessage(key string, value []byte) kafka.Message {
	return kafka.Message{Topic: "events", Key: []byte(key), Value: value}
}
