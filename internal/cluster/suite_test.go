package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/webhook"
	"github.com/orbital-e2e/orbital/webhook/waitertest"
)

// TestRelaySuite runs the waiter behaviour suite against the relay: the test
// waits on replica A's RouteLogger while every delivery reaches replica B's
// webhook (OtherReplica), or A's own webhook (SameReplica, where a delivery
// for a key not yet pending goes round Kafka and back).
func TestRelaySuite(t *testing.T) {
	broker := startBroker(t)
	tests := []struct {
		name    string
		ingress func(a, b *cluster.Node) *cluster.Node
		early   bool // an early delivery stays where it lands (on B)
	}{
		{"OtherReplica", func(a, b *cluster.Node) *cluster.Node { return b }, true},
		{"SameReplica", func(a, b *cluster.Node) *cluster.Node { return a }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waitertest.Run(t, func(t *testing.T) waitertest.Setup {
				topic := uniqueTopic("suite")
				a := startNode(t, broker.Brokers(), topic, "a", func(c *cluster.Config) {
					c.Local = webhook.NewRouteLogger(webhook.JSONField(waitertest.KeyField))
				})
				b := startNode(t, broker.Brokers(), topic, "b", nil)
				in := tt.ingress(a, b)
				local := a.Local()
				return waitertest.Setup{Waiter: local, EarlyStaysWhereItLands: tt.early, Deliver: func(r webhook.Request) {
					in.Record(r)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if err := a.Sync(ctx); err != nil {
						t.Errorf("Sync: %v", err)
					}
				}}
			})
		})
	}
}
