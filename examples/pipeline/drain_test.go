package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

// TestGracefulDrainLosesNothingAcknowledged keeps senders posting events
// concurrently, closes the pipeline while events are being ingested and
// delivered, then starts a new pipeline in the same consumer group: every
// event that got a 200 must be delivered, and requests during the drain get
// 503, never anything else.
func TestGracefulDrainLosesNothingAcknowledged(t *testing.T) {
	const senders, maxEvents = 8, 3000
	broker := startBroker(t)
	dest := newDestination(t, nil)
	first := newEnv(t, broker, dest, func(c *pipeline.Config) { c.GroupID = "drain" })

	var (
		mu       sync.Mutex
		acked    []string
		statuses = map[int]int{}
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for range senders {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > maxEvents {
					return
				}
				id := fmt.Sprintf("drain-%04d", i)
				req, _ := http.NewRequest(http.MethodPost, first.api.URL+"/v1/track",
					strings.NewReader(`{"messageId":"`+id+`","event":"e","userId":"u"}`))
				req.SetBasicAuth(writeKey, "")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					acked = append(acked, id)
				}
				mu.Unlock()
				if resp.StatusCode != http.StatusOK {
					return // draining: the client would retry elsewhere
				}
			}
		})
	}
	// Close while the worker is busy delivering and senders keep sending.
	dest.waitUntil(t, "the worker to deliver", func(ds []delivery) bool { return len(ds) >= 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := first.p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	deliveredBefore := len(dest.deliveries())

	mu.Lock()
	defer mu.Unlock()
	for status, count := range statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("got %d answers with status %d; want only 200 and 503", count, status)
		}
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 during the drain (statuses %v)", statuses)
	}
	t.Logf("statuses %v; delivered before restart: %d", statuses, deliveredBefore)

	// A new worker in the same group picks up what the first left uncommitted.
	newEnv(t, broker, dest, func(c *pipeline.Config) { c.GroupID = "drain" })
	dest.waitUntil(t, "every acknowledged event", func(ds []delivery) bool {
		seen := map[string]bool{}
		for _, d := range ds {
			seen[d.Event["messageId"].(string)] = true
		}
		for _, id := range acked {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

// TestAbandonedDeliveriesAreRedelivered closes a pipeline whose destination
// hangs, with a short deadline: the unfinished events stay uncommitted and a
// new pipeline in the same group delivers them.
func TestAbandonedDeliveriesAreRedelivered(t *testing.T) {
	broker := startBroker(t)
	release := make(chan struct{})
	var hanging *destination
	hanging = newDestination(t, func(int, http.ResponseWriter) bool { hanging.hold(release); return false })
	first := newEnv(t, broker, hanging, func(c *pipeline.Config) { c.GroupID = "abandon" })
	ids := []string{"abandon-1", "abandon-2", "abandon-3"}
	for _, id := range ids {
		first.track(id, "e")
	}
	hanging.waitUntil(t, "the deliveries to start", func(ds []delivery) bool { return len(ds) == len(ids) })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := first.p.Close(ctx); err == nil {
		t.Error("Close returned nil although deliveries were abandoned")
	}
	close(release)

	healthy := newDestination(t, nil)
	newEnv(t, broker, healthy, func(c *pipeline.Config) { c.GroupID = "abandon" })
	for _, id := range ids {
		healthy.waitForID(t, id, 1)
	}
}
