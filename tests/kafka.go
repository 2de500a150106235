package tests

import (
	"context"
	"encoding/json"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/kafkasource"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

// kafka produces one event straight to the ingest topic with kafka-go, as
// the tracking API would (key: the messageId; value: the event as JSON with
// its type and messageId set; hash partitioning), so that the worker is
// tested without the API. It checks the delivery as track does and, when the
// Harness names the pipeline's OutputTopic, that the processed event came
// out there too (read with kafkasource: a Kafka return path).
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
	tr := s.follow(o, id)
	out := s.watchOutput(ctx, o, id)

	sent := tr.Sending()
	msg := kafka.Message{Key: []byte(id), Value: value, Time: sent,
		Headers: []kafka.Header{{Key: TraceparentHeader, Value: []byte(orbital.Traceparent(o.TraceID()))}}}
	if err := w.WriteMessages(ctx, msg); err != nil {
		o.Fatalf("messageId %s: producing to topic %s: %v", id, s.topic, err)
	}
	req := s.wait(ctx, o, tr, id)
	s.check(o, id, req, ev)
	if out != nil {
		s.checkOutput(ctx, o, out, id, ev)
	}
	s.noSecond(ctx, o, id)
}

// watchOutput, when the Harness names the pipeline's OutputTopic, starts reading it (a
// kafkasource positioned before the event is produced, so it cannot be missed) into a
// RouteLogger of the run's own keyed by the message key, and declares id on it; nil
// otherwise.
func (s *suites) watchOutput(ctx context.Context, o *orbital.O, id string) *webhook.RouteLogger {
	o.Helper()
	if s.outputTopic == "" {
		return nil
	}
	rl := webhook.NewRouteLogger(kafkasource.MessageKey)
	src, err := kafkasource.New(kafkasource.Config{Brokers: s.brokers, Topics: []string{s.outputTopic}, Logger: rl, Grace: -1})
	if err != nil {
		o.Fatalf("messageId %s: reading output topic %s: %v", id, s.outputTopic, err)
	}
	if err := src.Start(ctx); err != nil {
		o.Fatalf("messageId %s: reading output topic %s: %v", id, s.outputTopic, err)
	}
	o.Cleanup(func() { _ = src.Close() })
	if err := rl.Sent(id); err != nil {
		o.Fatalf("messageId %s: %v", id, err)
	}
	return rl
}

// checkOutput fails the run unless the event came out on the output topic, processed.
func (s *suites) checkOutput(ctx context.Context, o *orbital.O, out *webhook.RouteLogger, id string, want map[string]any) {
	o.Helper()
	got, err := out.WaitFor(ctx, id, s.deliveryBudget(ctx))
	if err != nil {
		o.Errorf("messageId %s: not written to output topic %s: %v", id, s.outputTopic, err)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(got.Body), &ev); err != nil {
		o.Errorf("messageId %s: output topic %s holds no JSON event: %v", id, s.outputTopic, err)
		return
	}
	if ev["processed"] != true || ev["event"] != want["event"] {
		o.Errorf("messageId %s: output topic %s holds %s, want the processed event %v", id, s.outputTopic, got.Body, want["event"])
	}
}
