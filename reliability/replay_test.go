package reliability_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/orbital"
)

// replayedTotal reads orbital_webhook_replayed_total from the stack's
// /metrics (-1: absent).
func replayedTotal(t *testing.T, s *stack) int {
	t.Helper()
	rec := httptest.NewRecorder()
	s.prom.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^orbital_webhook_replayed_total (\d+)`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// replayer is an attacker who sees every delivery: after the webhook
// answered one, it re-sends it byte for byte, twice, over HTTP to the same
// webhook, and counts the replays answered 200.
type replayer struct {
	s        *stack
	mu       sync.Mutex
	replayed map[string]bool // webhook-ids already replayed
	answered atomic.Int64
	sent     atomic.Int64
}

func (rp *replayer) wrap(s *stack, h http.Handler) http.Handler {
	rp.s = s
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
		id := r.Header.Get("webhook-id")
		rp.mu.Lock()
		seen := rp.replayed[id]
		rp.replayed[id] = true
		rp.mu.Unlock()
		if id == "" || seen {
			return // a replay itself, or unsigned
		}
		for range 2 {
			req, err := http.NewRequest(r.Method, rp.s.hook.URL()+r.URL.RequestURI(), bytes.NewReader(body))
			if err != nil {
				continue
			}
			req.Header = r.Header.Clone()
			rp.sent.Add(1)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				rp.answered.Add(1)
			}
		}
	})
}

// TestReplaysAreNotDuplicates reproduces break 3 of issue 14: an attacker
// re-sends every signed delivery byte for byte. Before Standard Webhooks,
// track, dedupe and batch failed with "delivered twice". Now each replay is
// answered 200, counted exactly in orbital_webhook_replayed_total, and not
// recorded; the suites pass.
func TestReplaysAreNotDuplicates(t *testing.T) {
	rp := &replayer{replayed: map[string]bool{}}
	s := newStack(t, stackConfig{hookWrap: rp.wrap})
	if n := replayedTotal(t, s); n != 0 {
		t.Fatalf("orbital_webhook_replayed_total = %d before any replay, want present at 0", n)
	}
	r := s.startService(t, 0, suite(t, s.harness(), 300*time.Millisecond, 20*time.Second, "track", "dedupe", "batch")...)
	for _, name := range []string{"track", "dedupe", "batch"} {
		for range 2 {
			r.rec.waitFor(t, r.rec.mark(), waitLong, name+" to pass under replays", func(res orbital.Result) bool {
				if res.Case == name && res.Outcome == orbital.Fail {
					t.Fatalf("%s failed under replays: %s", name, res.Error)
				}
				return res.Case == name && res.Outcome == orbital.Pass
			})
		}
	}
	r.cancel()
	<-r.done
	r.done <- nil
	waitUntil(t, 10*time.Second, "replays answered to be counted", func() bool {
		return rp.answered.Load() > 0 && int64(replayedTotal(t, s)) == rp.answered.Load()
	})
	t.Logf("%d replays sent, %d answered 200, orbital_webhook_replayed_total %d", rp.sent.Load(), rp.answered.Load(), replayedTotal(t, s))
}

// TestLostAnswersAreNotDuplicates: the webhook records a delivery but its
// answer never reaches the pipeline (the connection drops), so the pipeline
// retries the same delivery; the retry is answered 200 and not recorded
// again, and track passes. A genuine duplicate from the pipeline (dup=1: a
// new delivery id, the same messageId) still fails it with "delivered
// twice".
func TestLostAnswersAreNotDuplicates(t *testing.T) {
	var dropped sync.Map // webhook-id -> answer dropped once
	wrap := func(_ *stack, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("webhook-id")
			if _, done := dropped.LoadOrStore(id, true); done || id == "" {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r) // recorded ...
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_, _ = conn.Write([]byte("HTTP/1.1 2")) // ... but the answer is cut short
				conn.Close()
			}
		})
	}
	s := newStack(t, stackConfig{hookWrap: wrap})
	r := s.startService(t, 0, suite(t, s.harness(), 300*time.Millisecond, 20*time.Second, "track")...)
	for range 3 {
		r.rec.waitFor(t, r.rec.mark(), waitLong, "track to pass with lost answers", func(res orbital.Result) bool {
			if res.Case == "track" && res.Outcome == orbital.Fail {
				t.Fatalf("track failed with lost answers: %s", res.Error)
			}
			return res.Case == "track" && res.Outcome == orbital.Pass
		})
	}
	if n := replayedTotal(t, s); n < 3 {
		t.Errorf("orbital_webhook_replayed_total = %d, want the pipeline's retries (>= 3) counted", n)
	}
	s.pipeline.SetFaults(pipeline.Faults{Dup: 1})
	r.rec.waitFor(t, r.rec.mark(), waitLong, "a genuine duplicate to be caught", failedWith("track", "delivered twice"))
	s.pipeline.SetFaults(pipeline.Faults{})
}
