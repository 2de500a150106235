package kafkatap_test

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/kafkatap"
)

// A run that wants to say where its event went: watch its id before
// sending, then read the sightings.
func Example() {
	// Stands in for your Kafka with the pipeline's topics.
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{"events", "events-dead-letter"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tap, err := kafkatap.New(kafkatap.Config{Brokers: b.Brokers(), Topics: []string{"events", "events-dead-letter"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := tap.Start(ctx); err != nil { // positioned at the end: nothing written from now on is missed
		fmt.Println(err)
		return
	}
	defer tap.Close()

	// In a run: watch the event's id, then send it.
	const id = "ajs-next-1f3c"
	if err := tap.Watch(id); err != nil {
		fmt.Println(err)
		return
	}
	defer tap.Forget(id)

	// The "pipeline" here: the API writes the event, the worker dead-letters it.
	// RequireAll: WriteMessages returns once the broker has the records, so Sync sees them.
	w := &kafka.Writer{Addr: kafka.TCP(b.Brokers()...), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx,
		kafka.Message{Topic: "events", Key: []byte("user-7"), Value: []byte(`{"type":"track","messageId":"` + id + `"}`)},
		kafka.Message{Topic: "events-dead-letter", Key: []byte(id), Value: []byte(`{}`), Headers: []kafka.Header{
			{Key: "error", Value: []byte("destination answered 503")}, {Key: "attempts", Value: []byte("5")}}},
	); err != nil {
		fmt.Println(err)
		return
	}

	if err := tap.Sync(ctx); err != nil { // everything written so far has been read
		fmt.Println(err)
	}
	for _, s := range tap.Sightings(id) {
		if s.DeadLetter {
			fmt.Printf("dead-lettered in %s after %s attempts: %s\n", s.Topic, s.Headers["attempts"], s.Headers["error"])
		} else {
			fmt.Printf("written to %s[%d]@%d\n", s.Topic, s.Partition, s.Offset)
		}
	}
	// Unordered output:
	// written to events[0]@0
	// dead-lettered in events-dead-letter after 5 attempts: destination answered 503
}
