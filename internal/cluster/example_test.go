package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

// Wiring one replica of the e2e service in cluster mode: the node is the
// webhook's Logger and the Service's assignment.
func Example() {
	broker, _ := embedkafka.Start(embedkafka.Config{}) // your Kafka cluster
	defer broker.Close()
	ctx := context.Background()

	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	node, err := cluster.New(cluster.Config{
		Brokers: broker.Brokers(),
		Topic:   "orbital",
		Local:   rl,
	})
	if err != nil {
		panic(err)
	}
	defer node.Close() // after svc.Run returned: leaves the group at once

	svc := orbital.New(orbital.WithAssignment(node.Owns))
	svc.Register(orbital.TestCase{Name: "track", Period: 30 * time.Second, Func: func(ctx context.Context, o *orbital.O) {
		// Sent, send the event, rl.Wait: deliveries reach rl from any replica.
	}})
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", webhook.New(webhook.Config{Logger: node}))

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Start gets the registered names and the Service's Reassigned, so a case
	// taken over from a replica that died runs at once.
	if err := node.Start(startCtx, []string{"track"}, svc.Reassigned); err != nil {
		panic(err)
	}
	// go svc.Run(ctx); serve mux ...

	// A delivery for a key this replica does not wait for goes through Kafka
	// to whichever replica does; here, another replica's node.
	other, _ := cluster.New(cluster.Config{Brokers: broker.Brokers(), Local: webhook.NewRouteLogger(webhook.JSONField("messageId"))})
	defer other.Close()
	if err := other.Start(startCtx, nil, nil); err != nil {
		panic(err)
	}
	rl.Sent("msg-1")
	other.Record(webhook.Request{Body: `{"messageId":"msg-1"}`})
	got, err := rl.Wait(startCtx, "msg-1")
	fmt.Println(got.Body, err, node.Counts().Matched, other.Counts().Relayed)
	// Output: {"messageId":"msg-1"} <nil> 1 1
}
