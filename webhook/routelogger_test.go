package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/webhook"
	"github.com/orbital-e2e/orbital/webhook/waitertest"
)

// fakeClock is a settable clock for TTL and grace tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newRL(t *testing.T, opts ...webhook.RouteOption) (*webhook.RouteLogger, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	opts = append([]webhook.RouteOption{webhook.WithClock(clk.Now)}, opts...)
	return webhook.NewRouteLogger(webhook.JSONField(waitertest.KeyField), opts...), clk
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTTLEvictsForgottenKeys(t *testing.T) {
	tests := []struct {
		name    string
		opts    []webhook.RouteOption
		advance time.Duration
		pending bool
	}{
		{"default TTL not reached", nil, 10*time.Minute - time.Second, true},
		{"default TTL is 10 minutes", nil, 10 * time.Minute, false},
		{"custom TTL", []webhook.RouteOption{webhook.WithTTL(time.Second)}, time.Second, false},
		{"custom TTL not reached", []webhook.RouteOption{webhook.WithTTL(time.Second)}, time.Second / 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl, clk := newRL(t, tt.opts...)
			const n = 1000
			for i := range n {
				if err := rl.Sent("k" + strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(tt.advance)
			want := 0
			if tt.pending {
				want = n
			}
			if got := rl.Len(); got != want {
				t.Fatalf("Len = %d, want %d", got, want)
			}
			if tt.pending {
				rl.Record(waitertest.Delivery("k1", 1))
				if _, err := rl.Wait(ctx(t), "k1"); err != nil {
					t.Fatalf("Wait on a live key: %v", err)
				}
				return
			}
			if _, err := rl.Wait(ctx(t), "k1"); !errors.Is(err, webhook.ErrNotSent) {
				t.Fatalf("Wait on an expired key: %v, want ErrNotSent", err)
			}
			if err := rl.Sent("k1"); err != nil {
				t.Fatalf("Sent on an expired key: %v", err)
			}
		})
	}
}

func TestUnmatchedGrace(t *testing.T) {
	tests := []struct {
		name    string
		opts    []webhook.RouteOption
		advance time.Duration
		matched bool
	}{
		{"within default grace", nil, 59 * time.Second, true},
		{"past default grace of 1 minute", nil, time.Minute, false},
		{"custom grace", []webhook.RouteOption{webhook.WithGrace(5 * time.Second)}, 5 * time.Second, false},
		{"grace disabled", []webhook.RouteOption{webhook.WithGrace(0)}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl, clk := newRL(t, tt.opts...)
			rl.Record(waitertest.Delivery("early", 1))
			clk.Advance(tt.advance)
			if err := rl.Sent("early"); err != nil {
				t.Fatal(err)
			}
			got := len(rl.Received("early"))
			if tt.matched && got != 1 || !tt.matched && got != 0 {
				t.Fatalf("Received after Sent: %d deliveries, matched=%v", got, tt.matched)
			}
		})
	}
}

// counts collects what the engine emitted, keyed by Prometheus-style name
// with the reason label.
type counts struct {
	h *prometheus.Handler
}

func (c counts) text(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	c.h.WriteStats(&b)
	return b.String()
}

func TestUnmatchedFloodIsBoundedAndCounted(t *testing.T) {
	h := &prometheus.Handler{}
	eng := stats.NewEngine("orbital", h)
	rl, clk := newRL(t, webhook.WithMaxUnmatched(10), webhook.WithStats(eng))
	for i := range 1000 {
		rl.Record(waitertest.Delivery("other"+strconv.Itoa(i), 1))
	}
	// The 10 newest are kept, the 990 oldest were evicted for overflow.
	for _, tc := range []struct {
		key  string
		want int
	}{{"other0", 0}, {"other989", 0}, {"other990", 1}, {"other999", 1}} {
		if err := rl.Sent(tc.key); err != nil {
			t.Fatal(err)
		}
		if got := len(rl.Received(tc.key)); got != tc.want {
			t.Fatalf("%s: %d deliveries kept, want %d", tc.key, got, tc.want)
		}
	}
	// Age evicts the rest.
	rl.Record(waitertest.Delivery("late", 1))
	clk.Advance(2 * time.Minute)
	rl.Record(waitertest.Delivery("later", 1))

	text := counts{h}.text(t)
	for _, want := range []string{
		"orbital_webhook_unmatched_total 1002",
		`orbital_webhook_unmatched_evicted_total{reason="overflow"} 990`,
		`orbital_webhook_unmatched_evicted_total{reason="expired"} 9`, // 8 left of the flood + "late"
		"orbital_webhook_matched_total 2",
		"orbital_webhook_pending_keys 4",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

func TestUnmatchedBytesBound(t *testing.T) {
	rl, _ := newRL(t, webhook.WithMaxUnmatchedBytes(10_000))
	big := strings.Repeat("x", 4000)
	for i := range 5 {
		r := waitertest.Delivery("big"+strconv.Itoa(i), 1)
		r.Body = `{"messageId":"big` + strconv.Itoa(i) + `","pad":"` + big + `"}`
		rl.Record(r)
	}
	kept := 0
	for i := range 5 {
		k := "big" + strconv.Itoa(i)
		if err := rl.Sent(k); err != nil {
			t.Fatal(err)
		}
		kept += len(rl.Received(k))
	}
	if kept != 2 {
		t.Fatalf("kept %d deliveries of ~4 KB under a 10 KB bound, want 2", kept)
	}
}

// TestUnmatchedBytesBoundCountsHeaders: deliveries with an empty body but a
// large header (net/http allows 1 MiB of header) count against the byte
// bound too, so a header-only flood stays bounded.
func TestUnmatchedBytesBoundCountsHeaders(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.Header("X-Key"), webhook.WithMaxUnmatchedBytes(10_000))
	pad := strings.Repeat("h", 4000)
	for i := range 5 {
		rl.Record(webhook.Request{Method: "POST", Header: http.Header{
			"X-Key": {"hdr" + strconv.Itoa(i)},
			"X-Pad": {pad},
		}})
	}
	kept := 0
	for i := range 5 {
		k := "hdr" + strconv.Itoa(i)
		if err := rl.Sent(k); err != nil {
			t.Fatal(err)
		}
		kept += len(rl.Received(k))
	}
	if kept != 2 {
		t.Fatalf("kept %d header-only deliveries of ~4 KB under a 10 KB bound, want 2", kept)
	}
}

func TestMaxPerKey(t *testing.T) {
	rl, _ := newRL(t, webhook.WithMaxPerKey(3))
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 10; n++ {
		rl.Record(waitertest.Delivery("k", n))
	}
	if got := len(rl.Received("k")); got != 3 {
		t.Fatalf("Received: %d, want 3 (WithMaxPerKey)", got)
	}
	if _, err := rl.Wait(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	// Dropped duplicates still fail WaitNone.
	if err := rl.WaitNone(ctx(t), "k", time.Millisecond); !errors.Is(err, webhook.ErrUnexpectedDelivery) {
		t.Fatalf("WaitNone: %v", err)
	}
}

func TestMatchedAndDuplicateMetrics(t *testing.T) {
	h := &prometheus.Handler{}
	rl, _ := newRL(t, webhook.WithStats(stats.NewEngine("orbital", h)))
	rl.Record(waitertest.Delivery("a", 1)) // early
	if err := rl.Sent("a"); err != nil {
		t.Fatal(err)
	}
	rl.Record(waitertest.Delivery("a", 2))
	rl.Record(webhook.Request{Body: `{}`}) // no key
	if err := rl.Sent("b"); err != nil {
		t.Fatal(err)
	}
	rl.Record(waitertest.Delivery("b", 1))
	rl.Delete("a")
	text := counts{h}.text(t)
	for _, want := range []string{
		"orbital_webhook_matched_total 2",
		"orbital_webhook_duplicate_total 1",
		"orbital_webhook_unmatched_total 2",
		"orbital_webhook_pending_keys 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

func TestSentEmptyKey(t *testing.T) {
	rl, _ := newRL(t)
	if err := rl.Sent(""); err == nil {
		t.Fatal("Sent(\"\"): want an error")
	}
}

func TestWaitAcrossTTLEviction(t *testing.T) {
	rl, clk := newRL(t, webhook.WithTTL(time.Minute))
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := rl.Wait(ctx(t), "k")
		done <- err
	}()
	clk.Advance(2 * time.Minute)
	// Any call that sweeps the shard ends the wait; Len sweeps them all.
	if got := rl.Len(); got != 0 {
		t.Fatalf("Len = %d", got)
	}
	if err := <-done; !errors.Is(err, webhook.ErrNotSent) {
		t.Fatalf("Wait across eviction: %v, want ErrNotSent", err)
	}
}

// TestSameDeliveryIDIsNotADuplicate: the same delivery recorded twice (a
// retry relayed from another replica) is not a duplicate; a new delivery id
// for the same key is.
func TestSameDeliveryIDIsNotADuplicate(t *testing.T) {
	h := &statstest.Handler{}
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(stats.NewEngine("", h)))
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	body := `{"messageId":"k"}`
	rl.Record(webhook.Request{Body: body, DeliveryID: "msg_1"})
	rl.Record(webhook.Request{Body: body, DeliveryID: "msg_1"})
	if n := len(rl.Received("k")); n != 1 {
		t.Fatalf("%d deliveries kept after the same delivery twice, want 1", n)
	}
	if c := measureCounts(h); c["webhook.replayed_total"] != 1 || c["webhook.duplicate_total"] != 0 {
		t.Fatalf("counts %v: want replayed_total 1, duplicate_total 0", c)
	}
	rl.Record(webhook.Request{Body: body, DeliveryID: "msg_2"})
	if n := len(rl.Received("k")); n != 2 {
		t.Fatalf("%d deliveries kept after a new delivery id, want 2 (a duplicate)", n)
	}
}

// TestManyKeysInOneShard: a shard keeps its first keys on its own line and
// the rest in a map; keys in either place are matched, refused a second
// Sent, deleted, expired and counted alike, and a slot freed on the line
// takes the next key.
func TestManyKeysInOneShard(t *testing.T) {
	rl, clk := newRL(t, webhook.WithTTL(time.Minute))
	keys := append([]string{"crowd-0"}, webhook.ShardMates(rl, "crowd-0", "crowd-", 7)...)
	for _, k := range keys {
		if err := rl.Sent(k); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		if err := rl.Sent(k); !errors.Is(err, webhook.ErrAlreadySent) {
			t.Fatalf("second Sent(%s): %v, want ErrAlreadySent", k, err)
		}
		rl.Record(waitertest.Delivery(k, i))
	}
	for i, k := range keys {
		r, err := rl.Wait(ctx(t), k)
		if err != nil || r.Body != waitertest.Delivery(k, i).Body {
			t.Fatalf("Wait(%s) = %q, %v", k, r.Body, err)
		}
	}
	// Free two of the first keys (on the shard's line) and one of the rest.
	for _, k := range []string{keys[0], keys[2], keys[6]} {
		rl.Delete(k)
		if rl.Pending(k) {
			t.Fatalf("%s pending after Delete", k)
		}
	}
	if n := rl.Len(); n != 5 {
		t.Fatalf("Len = %d after 3 of 8 deleted, want 5", n)
	}
	more := webhook.ShardMates(rl, keys[0], "later-", 3)
	for _, k := range more {
		if err := rl.Sent(k); err != nil {
			t.Fatal(err)
		}
		rl.Record(waitertest.Delivery(k, 1))
		if got := len(rl.Received(k)); got != 1 {
			t.Fatalf("Received(%s) has %d deliveries, want 1", k, got)
		}
	}
	if n := rl.Len(); n != 8 {
		t.Fatalf("Len = %d, want 8", n)
	}
	clk.Advance(time.Minute)
	if n := rl.Len(); n != 0 {
		t.Fatalf("Len = %d after the TTL, want 0", n)
	}
	for _, k := range append(keys, more...) {
		if _, err := rl.Wait(ctx(t), k); !errors.Is(err, webhook.ErrNotSent) {
			t.Fatalf("Wait(%s) after the TTL: %v, want ErrNotSent", k, err)
		}
	}
}
