package pipeline_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

// TestInFlightEventIsNotCommittedPast holds offset N in flight (its
// destination hangs) while offset N+1 of the same partition is delivered,
// then closes the worker, whose final commit runs after N+1 finished: the
// group's committed offset must stay at N, and a worker restarted in the
// same group must redeliver N. A tracker that commits the highest finished
// offset instead of the finished prefix loses N here.
func TestInFlightEventIsNotCommittedPast(t *testing.T) {
	const group = "inflight"
	broker := startBroker(t)
	release := make(chan struct{}) // never closed: held hangs until the test ends
	var dest *destination
	dest = newDestination(t, func(n int, _ http.ResponseWriter) bool {
		if dest.deliveries()[n-1].Event["messageId"] == "held" {
			dest.hold(release) // in flight until the test ends
		}
		return false
	})
	cfg := func(c *pipeline.Config) { c.GroupID = group; c.Partitions = 1 }
	first := newEnv(t, broker, dest, cfg)

	// A committed baseline, so "nothing committed" cannot pass for correct.
	first.track("before", "e")
	dest.waitForID(t, "before", 1)
	waitCommitted(t, broker.Brokers(), group, "events", 1)

	first.track("held", "e")
	first.track("after", "e")
	offsets := map[string]int64{}
	for _, m := range readTopic(t, broker.Brokers(), "events", func(ms []kafka.Message) bool { return len(ms) >= 3 }) {
		offsets[string(m.Key)] = m.Offset
	}
	if offsets["after"] != offsets["held"]+1 || offsets["held"] != offsets["before"]+1 {
		t.Fatalf("offsets %v, want before, held, after in a row on one partition", offsets)
	}
	dest.waitForID(t, "held", 1) // its delivery has started and hangs
	dest.waitForID(t, "after", 1)
	waitCounter(t, first.metrics, 2, "delivered_total") // before and after finished

	// Close waits for in-flight deliveries, gives up on held at the deadline
	// (after has finished by then) and commits what is committable.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := first.p.Close(ctx); err == nil {
		t.Error("Close returned nil although the held delivery was abandoned")
	}
	_, committed, err := groupOffsets(broker.Brokers(), group, "events", 1)
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	if committed[0] != offsets["held"] {
		t.Errorf("committed offset %d with offset %d (held) unfinished, want %d: offsets %v",
			committed[0], offsets["held"], offsets["held"], offsets)
	}

	// A new worker in the group starts at the committed offset: held again.
	healthy := newDestination(t, nil)
	newEnv(t, broker, healthy, cfg)
	healthy.waitForID(t, "held", 1)
}
