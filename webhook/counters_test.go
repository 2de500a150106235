package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/orbital-e2e/orbital/webhook"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"
)

// counterSource is a handler and how to read the webhook's totals from it:
// a scrape of orbital/metrics' (batched) or the sum of a statstest
// handler's measures (every call a measure).
type counterSource struct {
	name   string
	new    func() stats.Handler
	totals func(t *testing.T, h stats.Handler) map[string]int
}

var promSample = regexp.MustCompile(`(?m)^orbital_webhook_(\w+_total) (\d+)$`)

var counterSources = []counterSource{
	{"batched", func() stats.Handler { return metrics.NewHandler() }, func(t *testing.T, h stats.Handler) map[string]int {
		out := map[string]int{}
		for _, m := range promSample.FindAllStringSubmatch(scrapeText(t, h.(*metrics.Handler)), -1) {
			n, _ := strconv.Atoi(m[2])
			out["webhook."+m[1]] = n
		}
		return out
	}},
	{"unbatched", func() stats.Handler { return &statstest.Handler{} }, func(t *testing.T, h stats.Handler) map[string]int {
		out := map[string]int{}
		for _, m := range h.(*statstest.Handler).Measures() {
			for _, f := range m.Fields {
				if len(m.Tags) == 0 {
					out[strings.TrimPrefix(m.Name, "orbital.")+"."+f.Name] += int(f.Value.Int())
				}
			}
		}
		return out
	}},
}

// TestCountersCountEveryDeliveryOnce: under a batched handler and an
// unbatched one, webhook.received_total counts every request (a rejected
// one too) and webhook.matched_total every key's first delivery (before or
// after Sent, with its key on a shard's line or in its map) exactly once,
// both present at 0 first, and a batched scrape never sees them go back
// while deliveries race with it.
func TestCountersCountEveryDeliveryOnce(t *testing.T) {
	for _, src := range counterSources {
		t.Run(src.name, func(t *testing.T) {
			h := src.new()
			eng := stats.NewEngine("orbital", h)
			rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))
			srv := httptest.NewServer(webhook.New(webhook.Config{Logger: rl, Stats: eng}))
			defer srv.Close()
			got := src.totals(t, h)
			for _, name := range []string{"webhook.received_total", "webhook.matched_total"} {
				if n, ok := got[name]; !ok || n != 0 {
					t.Fatalf("before any delivery %s = %d (present %v), want 0", name, n, ok)
				}
			}
			keys := append([]string{"crowd-0"}, webhook.ShardMates(rl, "crowd-0", "crowd-", 5)...)
			post := func(key string) {
				res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"messageId":"`+key+`"}`))
				if err != nil {
					t.Error(err) // also from the clients' goroutines
					return
				}
				res.Body.Close()
			}
			for _, k := range keys[:4] {
				if err := rl.Sent(k); err != nil {
					t.Fatal(err)
				}
				post(k)
			}
			post(keys[3])  // a duplicate
			post(keys[4])  // before its Sent: matched by Sent
			post("nobody") // unmatched
			if err := rl.Sent(keys[4]); err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(srv.URL) // rejected, still received
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			want := map[string]int{"webhook.received_total": 8, "webhook.matched_total": 5,
				"webhook.duplicate_total": 1, "webhook.unmatched_total": 2}
			got = src.totals(t, h)
			for name, n := range want {
				if got[name] != n {
					t.Errorf("%s = %d, want %d (all: %v)", name, got[name], n, got)
				}
			}
			concurrentRoundTrips(t, rl, post, func() map[string]int { return src.totals(t, h) }, want)
		})
	}
}

// concurrentRoundTrips runs Sent, POST, Delete from several clients while
// reading the totals, which must never decrease, and end exact.
func concurrentRoundTrips(t *testing.T, rl *webhook.RouteLogger, post func(string), read func() map[string]int, base map[string]int) {
	const clients, each = 4, 30
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("rt%d-%d", c, i)
				if err := rl.Sent(key); err != nil {
					t.Error(err)
					return
				}
				post(key)
				rl.Delete(key)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := base
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		got := read()
		for _, name := range []string{"webhook.received_total", "webhook.matched_total"} {
			if got[name] < last[name] {
				t.Fatalf("%s went back from %d to %d", name, last[name], got[name])
			}
		}
		last = got
	}
	for _, name := range []string{"webhook.received_total", "webhook.matched_total"} {
		if want := base[name] + clients*each; last[name] != want {
			t.Errorf("%s = %d after the round trips, want %d", name, last[name], want)
		}
	}
}
