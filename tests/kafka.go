package tests

import (
	"context"
	"encoding/json"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/orbital"
)

// kafka produces one event straight to the ingest topic with kafka-go, as
// the tracking API would (key: the messageId; value: the event as JSON with
// its type and messageId set; hash partitioning), so that the worker is
// tested without the API. It checks the delivery as track does.
func (s *suites) kafka(ctx context.Context, o *orbital.O) {
	s.ready(o)
	if len(s.brokers) == 0 {
		o.Fatal("harness has no Kafka brokers")
	}
	id := o.TraceID()
	ev := newEvent(o, id, "kafka")
	value, err := json.Marshal(ev)
	if err != nil {
		o.Fatalf("messageId %s: encoding the event: %v", id, err)
	}
	w := &kafka.Writer{
		Addr:            kafka.TCP(s.brokers...),
		Topic:           s.topic,
		Balancer:        &kafka.Hash{}, // keyed by messageId, as the API writes
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    time.Millisecond, // one message: do not wait to fill a batch
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
	}
	o.Cleanup(func() {
		if err := w.Close(); err != nil {
			o.Logf("closing the Kafka writer: %v", err)
		}
	})
	s.expect(o, id)

	sent := time.Now()
	msg := kafka.Message{Key: []byte(id), Value: value, Time: sent}
	if err := w.WriteMessages(ctx, msg); err != nil {
		o.Fatalf("messageId %s: producing to topic %s: %v", id, s.topic, err)
	}
	req := s.wait(ctx, o, id, sent)
	s.check(o, id, req, ev)
	s.noSecond(ctx, o, id)
}
