package reliability_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/orbital"
)

// Soak bounds: growth after warm-up, from the median of the first samples to
// the median of the last ones, must stay within these.
const (
	soakMaxGoroutines = 25      // goroutines
	soakMaxHeap       = 8 << 20 // bytes of HeapAlloc after a GC
	soakMaxFDs        = 20      // open file descriptors
)

// soakDuration is 60s (CI-sized) unless ORBITAL_SOAK says otherwise
// (`make soak`: ORBITAL_SOAK=2h).
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("ORBITAL_SOAK")
	if v == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 20*time.Second {
		t.Fatalf("ORBITAL_SOAK=%q: want a duration of at least 20s", v)
	}
	return d
}

// TestSoak runs every HTTP suite continuously, with a background load, and
// samples goroutines, heap after GC and open file descriptors after a
// warm-up: none may grow beyond the stated bounds, and no run may fail.
func TestSoak(t *testing.T) {
	total := soakDuration(t)
	// The warm-up covers the windows that fill before they plateau: Kafka
	// retention (10s here), the pipeline's dedupe window (1,000 ids, about
	// 15s), connection pools.
	warmup := min(max(total/3, 20*time.Second), 10*time.Minute)
	every := max((total-warmup)/20, 2*time.Second)

	// The embedded broker drops records older than its retention, as a
	// production topic would (embedkafka's default bound is 10 minutes); a
	// 10s window puts its log at its steady size within the warm-up.
	//
	// The pipeline's delivery client and the load's client keep few idle
	// connections (Go's default, 2 per host). Their defaults keep up to 256
	// and 1,024 for 30-90s: after any stall (a loaded CI machine), the
	// burst of concurrent sends that catches up opens tens of connections
	// that then sit in those pools, a bounded cache a 60s soak cannot tell
	// from a leak. With small pools a burst's extra connections close when
	// its requests finish, while a connection that never returns to its
	// pool (a leak) still shows.
	delivery, loadClient := smallPoolClient(t), smallPoolClient(t)
	s := newStack(t, stackConfig{discardLogs: true, noTracker: true, dedupe: 1000, retention: 10 * time.Second, delivery: delivery})
	h := s.harness()
	cases := append(suite(t, h, 100*time.Millisecond, 20*time.Second, "track"),
		suite(t, h, 500*time.Millisecond, 20*time.Second, "batch", "dedupe", "reject")...)
	r := s.startService(t, 100, cases...)
	loadRate := 50.0
	if raceEnabled {
		loadRate = 20
	}
	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	loadDone := make(chan load.Report, 1)
	go func() {
		rep, err := load.Run(ctx, load.Config{APIURL: s.api.URL(), WriteKey: writeKey, Waiter: s.rl, Rate: loadRate, Duration: total, HTTPClient: loadClient, Logger: s.logger})
		if err != nil {
			t.Error(err)
		}
		loadDone <- rep
	}()

	start := time.Now()
	timer := time.NewTimer(warmup)
	<-timer.C
	var samples []usage
	for {
		samples = append(samples, sample())
		if time.Since(start)+every > total {
			break
		}
		timer.Reset(every)
		<-timer.C
	}
	rep := <-loadDone
	r.requireUp(t)

	passes, fails := 0, 0
	for _, tc := range cases {
		passes += r.rec.n(tc.Name, orbital.Pass)
		fails += r.rec.n(tc.Name, orbital.Fail)
	}
	t.Logf("soak %s (warm-up %s, race detector %v, load average %s): %d runs passed, %d failed; background load %s",
		total, warmup, raceEnabled, loadAvg(), passes, fails, rep)
	for i, u := range samples {
		t.Logf("  sample %2d: goroutines %4d  heap %6.1f MiB  fds %3d", i, u.goroutines, float64(u.heap)/(1<<20), u.fds)
		if i > 0 {
			for creator, n := range u.byCreator {
				if d := n - samples[i-1].byCreator[creator]; d > 5 || d < -5 {
					t.Logf("      %+d goroutines created by %s", d, creator)
				}
			}
		}
	}
	if fails != 0 {
		t.Errorf("%d runs failed during the soak; last results:\n%s", fails, r.rec.tail(5))
	}
	if passes < int(total/time.Second) {
		t.Errorf("only %d runs passed in %s", passes, total)
	}
	if rep.Lost != 0 || rep.Sent != rep.Matched+rep.Lost {
		t.Errorf("background load: %s", rep)
	}
	if len(samples) < 4 {
		t.Fatalf("only %d samples", len(samples))
	}
	k := max(len(samples)/4, 2)
	first, last := samples[:k], samples[len(samples)-k:]
	check := func(what string, f func(usage) int64, bound int64) {
		a, b := median(first, f), median(last, f)
		msg := fmt.Sprintf("%s: %d after warm-up, %d at the end (growth %d, bound %d)", what, a, b, b-a, bound)
		if b-a > bound {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	check("goroutines", func(u usage) int64 { return int64(u.goroutines) }, soakMaxGoroutines)
	check("heap bytes", func(u usage) int64 { return int64(u.heap) }, soakMaxHeap)
	check("open fds", func(u usage) int64 { return int64(u.fds) }, soakMaxFDs)
}

// smallPoolClient returns a client that keeps at most 2 idle connections per
// host; its idle connections are closed when t ends.
func smallPoolClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func median(us []usage, f func(usage) int64) int64 {
	v := make([]int64, len(us))
	for i, u := range us {
		v[i] = f(u)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
