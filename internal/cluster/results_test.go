package cluster_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/orbital"
)

// feedLog collects what a Results feeds, and signals each arrival.
type feedLog struct {
	mu   sync.Mutex
	got  []string // "replica:case:trace"
	outs []int    // len(Output)
	ch   chan struct{}
}

func newFeedLog() *feedLog { return &feedLog{ch: make(chan struct{}, 1024)} }

func (f *feedLog) feed(r orbital.Result, replica string) {
	f.mu.Lock()
	f.got = append(f.got, replica+":"+r.Case+":"+r.TraceID)
	f.outs = append(f.outs, len(r.Output))
	f.mu.Unlock()
	f.ch <- struct{}{}
}

func (f *feedLog) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// waitN waits until f holds n results.
func (f *feedLog) waitN(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := f.list(); len(got) >= n {
			return got
		}
		select {
		case <-f.ch:
		case <-deadline:
			t.Fatalf("fed %v, want %d results", f.list(), n)
		}
	}
}

func startResults(t *testing.T, brokers []string, topic, replica string, f *feedLog) *cluster.Results {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := cluster.StartResults(ctx, cluster.ResultsConfig{
		Brokers: brokers, Topic: topic, Replica: replica, Feed: f.feed, MaxOutput: 1024, Logger: testLogger(),
	})
	if err != nil {
		t.Fatalf("StartResults(%s): %v", replica, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestResultsShared: what one replica reports, every replica is fed, in the
// same order, with the replica that ran it and a bounded log; a replica that
// starts later (or restarts) is fed the history first, but not results that
// started before the retention window.
func TestResultsShared(t *testing.T) {
	brokers := startBroker(t).Brokers()
	topic := uniqueTopic("results") + "-results"
	fa, fb := newFeedLog(), newFeedLog()
	a := startResults(t, brokers, topic, "a", fa)
	b := startResults(t, brokers, topic, "b", fb)

	now := time.Now()
	a.Report(orbital.Result{Case: "track", TraceID: "1", Start: now, Output: strings.Repeat("x", 1<<20)})
	b.Report(orbital.Result{Case: "track/sub", Parent: "track", TraceID: "2", Start: now})
	a.Report(orbital.Result{Case: "old", TraceID: "3", Start: now.Add(-25 * time.Hour)})
	ga, gb := fa.waitN(t, 3), fb.waitN(t, 3)
	if strings.Join(ga, ",") != strings.Join(gb, ",") {
		t.Errorf("replicas fed in different orders: %v vs %v", ga, gb)
	}
	for _, want := range []string{"a:track:1", "b:track/sub:2"} {
		if !strings.Contains(strings.Join(ga, ","), want) {
			t.Errorf("fed %v, missing %s", ga, want)
		}
	}
	fa.mu.Lock()
	for _, n := range fa.outs {
		if n > 2048 {
			t.Errorf("a published log of %d bytes, want it cut near MaxOutput (1024)", n)
		}
	}
	fa.mu.Unlock()

	// A replica starting now replays the history before StartResults returns,
	// without the result that started 25h ago.
	fc := newFeedLog()
	startResults(t, brokers, topic, "c", fc)
	gc := fc.list()
	if len(gc) != 2 || strings.Contains(strings.Join(gc, ","), ":old:") {
		t.Errorf("replayed %v at start, want the 2 results of the last 24h", gc)
	}
}
