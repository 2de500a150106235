package embedkafka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/segmentio/kafka-go"
)

func Example() {
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{"events"}})
	if err != nil {
		panic(err)
	}
	defer broker.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(broker.Brokers()...), Topic: "events", RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("hello")}); err != nil {
		panic(err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: broker.Brokers(), Topic: "events", GroupID: "example",
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(m.Value))
	// Output: hello
}
