package pipeline_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

// TestDuplicateOfEventEvictedFromWindowIsCommitted: a duplicate waits for
// its original; if the original falls out of the dedupe window while it is
// still being delivered, the duplicate must still be dropped and committed,
// not left uncommitted forever (which would stall the partition's commits
// and make a restart redeliver everything after it).
func TestDuplicateOfEventEvictedFromWindowIsCommitted(t *testing.T) {
	broker := startBroker(t)
	release := make(chan struct{})
	var dest *destination
	dest = newDestination(t, func(n int, w http.ResponseWriter) bool {
		if n == 1 { // the original's first delivery hangs until released
			dest.hold(release)
		}
		return false
	})
	cfg := func(c *pipeline.Config) {
		c.GroupID = "evict"
		c.Topic, c.DeadLetterTopic = "evict-events", "evict-dead"
		c.Partitions = 1 // one partition: offsets commit in order
		c.DedupeWindow = 1
	}
	first := newEnv(t, broker, dest, cfg)
	first.track("orig", "e")
	dest.waitForID(t, "orig", 1)
	first.track("orig", "e")  // the duplicate: waits for the original
	first.track("other", "e") // pushes the original out of the window
	dest.waitForID(t, "other", 1)
	waitCounter(t, first.metrics, 3, "consumed_total")
	close(release)
	waitCounter(t, first.metrics, 1, "duplicates_dropped_total")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// A new worker of the group starts after the last committed offset: it
	// consumes only the new event.
	next := newDestination(t, nil)
	second := newEnv(t, broker, next, cfg)
	second.track("after-restart", "e")
	next.waitForID(t, "after-restart", 1)
	if n := counter(second.metrics, "consumed_total"); n != 1 {
		t.Errorf("after the restart the worker consumed %v events, want 1 (earlier ones were left uncommitted); deliveries: %d", n, len(next.deliveries()))
	}
	if got := dest.byID("orig"); len(got) != 1 {
		t.Errorf("orig delivered %d times, want 1", len(got))
	}
}
