package kafkasource_test

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/kafkasource"
	"github.com/orbital-e2e/orbital/webhook"
)

// A test waiting on a pipeline whose output is a Kafka topic: the source
// records the topic's messages in the RouteLogger the test waits on, keyed
// by the message key.
func Example() {
	// Stands in for your Kafka with the pipeline's output topic.
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{"order-confirmations"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	waiter := webhook.NewRouteLogger(kafkasource.MessageKey)
	src, err := kafkasource.New(kafkasource.Config{
		Brokers: b.Brokers(),
		Topics:  []string{"order-confirmations"},
		Logger:  waiter,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := src.Start(ctx); err != nil { // positioned: nothing written from now on is missed
		fmt.Println(err)
		return
	}
	defer src.Close()

	// In a test: declare the key, make the pipeline act, wait.
	const id = "order-42"
	if err := waiter.Sent(id); err != nil {
		fmt.Println(err)
		return
	}
	defer waiter.Delete(id)

	// Here the "pipeline" is us writing its output.
	w := &kafka.Writer{Addr: kafka.TCP(b.Brokers()...), Topic: "order-confirmations", BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(id), Value: []byte(`{"status":"confirmed"}`)}); err != nil {
		fmt.Println(err)
		return
	}

	got, err := waiter.WaitFor(ctx, id, 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Body, got.Header.Get(kafkasource.HeaderTopic), got.Proto, got.Method == "")
	fmt.Println(waiter.WaitNone(ctx, id, 50*time.Millisecond)) // exactly once
	// Output:
	// {"status":"confirmed"} order-confirmations kafka true
	// <nil>
}
