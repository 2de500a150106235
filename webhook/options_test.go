package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"

	"github.com/orbital-e2e/orbital/webhook"
	"github.com/orbital-e2e/orbital/webhook/waitertest"
)

// TestOptionZeroValues: each option's documented meaning of 0 — "keep the
// default" for the TTL and the caps, "disabled" for unmatched deliveries.
func TestOptionZeroValues(t *testing.T) {
	t.Run("WithTTL(0) keeps the default TTL", func(t *testing.T) {
		rl, clk := newRL(t, webhook.WithTTL(0))
		if err := rl.Sent("k"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(webhook.DefaultTTL - time.Second)
		if !rl.Pending("k") || rl.Len() != 1 {
			t.Fatal("key expired before the default TTL")
		}
	})
	t.Run("WithMaxPerKey(0) keeps the default", func(t *testing.T) {
		rl, _ := newRL(t, webhook.WithMaxPerKey(0))
		if err := rl.Sent("k"); err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= webhook.DefaultMaxPerKey+1; n++ {
			rl.Record(waitertest.Delivery("k", n))
		}
		if got := len(rl.Received("k")); got != webhook.DefaultMaxPerKey {
			t.Fatalf("Received: %d deliveries kept, want the default %d", got, webhook.DefaultMaxPerKey)
		}
	})
	t.Run("WithMaxUnmatchedBytes(0) keeps the default", func(t *testing.T) {
		rl, _ := newRL(t, webhook.WithMaxUnmatchedBytes(0))
		rl.Record(waitertest.Delivery("early", 1))
		if err := rl.Sent("early"); err != nil {
			t.Fatal(err)
		}
		if got := len(rl.Received("early")); got != 1 {
			t.Fatalf("early delivery not kept (%d): a zero byte cap must keep the default", got)
		}
	})
	t.Run("WithMaxUnmatched(0) keeps no unmatched delivery", func(t *testing.T) {
		rl, _ := newRL(t, webhook.WithMaxUnmatched(0))
		rl.Record(waitertest.Delivery("early", 1))
		if err := rl.Sent("early"); err != nil {
			t.Fatal(err)
		}
		if got := len(rl.Received("early")); got != 0 {
			t.Fatalf("early delivery kept (%d) with WithMaxUnmatched(0)", got)
		}
	})
	t.Run("negative values keep the defaults", func(t *testing.T) {
		rl, clk := newRL(t, webhook.WithTTL(-time.Second), webhook.WithGrace(-time.Second),
			webhook.WithMaxUnmatched(-1), webhook.WithMaxUnmatchedBytes(-1), webhook.WithMaxPerKey(-1))
		rl.Record(waitertest.Delivery("early", 1))
		clk.Advance(webhook.DefaultGrace - time.Second)
		if err := rl.Sent("early"); err != nil {
			t.Fatal(err)
		}
		if got := len(rl.Received("early")); got != 1 {
			t.Fatalf("early delivery within the default grace not matched (%d)", got)
		}
		clk.Advance(webhook.DefaultTTL - time.Second)
		if !rl.Pending("early") {
			t.Fatal("key expired before the default TTL")
		}
	})
}

// TestPendingAtTTL: Pending agrees with Wait and Len at the very instant
// the TTL ends: the key is gone.
func TestPendingAtTTL(t *testing.T) {
	rl, clk := newRL(t, webhook.WithTTL(time.Minute))
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if !rl.Pending("k") {
		t.Fatal("not pending 1ns before its TTL")
	}
	clk.Advance(time.Nanosecond)
	if rl.Pending("k") {
		t.Fatal("still pending when its TTL ended")
	}
	if rl.Pending("") {
		t.Fatal("the empty key is pending")
	}
}

// pendingGauge returns the last webhook.pending_keys value h holds.
func pendingGauge(t *testing.T, h *prometheus.Handler) string {
	t.Helper()
	for _, line := range strings.Split(counts{h}.text(t), "\n") {
		if v, ok := strings.CutPrefix(line, "orbital_webhook_pending_keys "); ok {
			return strings.Fields(v)[0] // value, then a timestamp
		}
	}
	t.Fatal("no orbital_webhook_pending_keys")
	return ""
}

// TestForgottenKeysAreSweptWithoutLen: keys nobody Deletes are evicted by
// the sweeps that ordinary calls on their shard make (at most once per
// TTL/16), not only by Len, so memory and the pending_keys gauge stay
// bounded by what is really pending.
func TestForgottenKeysAreSweptWithoutLen(t *testing.T) {
	h := &prometheus.Handler{}
	rl, clk := newRL(t, webhook.WithTTL(time.Minute), webhook.WithStats(stats.NewEngine("orbital", h)))
	keys := append([]string{"forgotten-0"}, webhook.ShardMates(rl, "forgotten-0", "forgotten-", 2)...)
	for i, k := range keys {
		if i > 0 {
			clk.Advance(time.Minute) // the key before expires
		}
		if err := rl.Sent(k); err != nil {
			t.Fatal(err)
		}
		if got := pendingGauge(t, h); got != "1" {
			t.Fatalf("after Sent(%s) with the key before it expired: pending_keys = %s, want 1", k, got)
		}
	}
}

// TestSentCountsOnlyRealMatches: Sent counts webhook.matched_total only
// when it matched an early delivery.
func TestSentCountsOnlyRealMatches(t *testing.T) {
	h := &prometheus.Handler{}
	rl, _ := newRL(t, webhook.WithStats(stats.NewEngine("orbital", h)))
	if err := rl.Sent("nothing-early"); err != nil {
		t.Fatal(err)
	}
	if text := (counts{h}).text(t); strings.Contains(text, "orbital_webhook_matched_total 1") {
		t.Fatalf("Sent without an early delivery counted a match:\n%s", text)
	}
	rl.Record(waitertest.Delivery("early", 1))
	rl.Record(waitertest.Delivery("early", 2))
	if err := rl.Sent("early"); err != nil {
		t.Fatal(err)
	}
	text := counts{h}.text(t)
	for _, want := range []string{"orbital_webhook_matched_total 1", "orbital_webhook_duplicate_total 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("after Sent matched two early deliveries, metrics lack %q:\n%s", want, text)
		}
	}
}

// TestHeldSize: an unmatched delivery counts its key, body, URL, remote
// address, method, protocol, every header name and value (plus 16 bytes per
// value) and 256 bytes of overhead against the byte bound.
func TestHeldSize(t *testing.T) {
	r := webhook.Request{
		RemoteAddr: "10.0.0.1:5", // 10
		Method:     "POST",       // 4
		Proto:      "HTTP/1.1",   // 8
		RawURL:     "/webhook",   // 8
		Header:     http.Header{"X-A": {"1", "22"}, "Content-Type": {"application/json"}},
		Body:       `{"messageId":"k"}`, // 17
	}
	// key 1; headers: 3+1+16+2+16 and 12+16+16
	want := int64(1+17+8+10+4+8) + (3 + 1 + 16 + 2 + 16) + (12 + 16 + 16) + 256
	if got := webhook.HeldSize("k", r); got != want {
		t.Fatalf("HeldSize = %d, want %d", got, want)
	}
}

// TestGraceZeroDropsAtOnce: with WithGrace(0) an unmatched delivery is not
// kept at all: it is counted as evicted when it arrives.
func TestGraceZeroDropsAtOnce(t *testing.T) {
	h := &prometheus.Handler{}
	rl, _ := newRL(t, webhook.WithGrace(0), webhook.WithStats(stats.NewEngine("orbital", h)))
	rl.Record(waitertest.Delivery("early", 1))
	if text := (counts{h}).text(t); !strings.Contains(text, "orbital_webhook_unmatched_evicted_total{reason=\"overflow\"} 1") {
		t.Fatalf("unmatched delivery with grace 0 not dropped at once:\n%s", text)
	}
}

// TestRecordCountsFirstAndDuplicates: the first delivery of a pending key
// is a match, every later one a duplicate.
func TestRecordCountsFirstAndDuplicates(t *testing.T) {
	h := &prometheus.Handler{}
	rl, _ := newRL(t, webhook.WithStats(stats.NewEngine("orbital", h)))
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		rl.Record(waitertest.Delivery("k", n))
	}
	text := (counts{h}).text(t)
	for _, want := range []string{"orbital_webhook_matched_total 1", "orbital_webhook_duplicate_total 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

// TestWaitNZero: WaitN for zero keys returns at once.
func TestWaitNZero(t *testing.T) {
	rl, _ := newRL(t)
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]string{nil, {"k"}} {
		got, err := rl.WaitN(ctx(t), 0, keys...)
		if err != nil || got != nil {
			t.Fatalf("WaitN(0, %q) = %v, %v; want nil, nil at once", keys, got, err)
		}
	}
}

// TestUnmatchedBytesBoundIsInclusive: deliveries that add up to exactly
// WithMaxUnmatchedBytes are all kept; one byte more evicts the oldest.
func TestUnmatchedBytesBoundIsInclusive(t *testing.T) {
	a, b := waitertest.Delivery("a", 1), waitertest.Delivery("b", 1)
	size := webhook.HeldSize("a", a) + webhook.HeldSize("b", b)
	for _, tt := range []struct {
		bound int64
		kept  int
	}{{size, 2}, {size - 1, 1}} {
		rl, _ := newRL(t, webhook.WithMaxUnmatchedBytes(tt.bound))
		rl.Record(a)
		rl.Record(b)
		kept := 0
		for _, k := range []string{"a", "b"} {
			if err := rl.Sent(k); err != nil {
				t.Fatal(err)
			}
			kept += len(rl.Received(k))
		}
		if kept != tt.kept {
			t.Errorf("bound %d for %d bytes: kept %d, want %d", tt.bound, size, kept, tt.kept)
		}
	}
}

// TestUnmatchedEarlyDeliveriesPerKey: Sent keeps at most WithMaxPerKey of a
// key's early deliveries; evicting a key's oldest early delivery keeps the
// others.
func TestUnmatchedEarlyDeliveriesPerKey(t *testing.T) {
	rl, _ := newRL(t, webhook.WithMaxPerKey(2))
	for n := 1; n <= 3; n++ {
		rl.Record(waitertest.Delivery("k", n))
	}
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	if got := len(rl.Received("k")); got != 2 {
		t.Fatalf("Received %d early deliveries, want WithMaxPerKey = 2", got)
	}

	rl, _ = newRL(t, webhook.WithMaxUnmatched(2))
	rl.Record(waitertest.Delivery("k", 1))
	rl.Record(waitertest.Delivery("k", 2))
	rl.Record(waitertest.Delivery("other", 1)) // evicts k's first
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	if got := rl.Received("k"); len(got) != 1 || got[0].Body != waitertest.Delivery("k", 2).Body {
		t.Fatalf("after k's oldest early delivery was evicted: Received %v, want k's second", got)
	}
}

// TestUnmatchedQueueIsCompacted: deliveries matched by Sent do not pile up
// in the unmatched store's queue.
func TestUnmatchedQueueIsCompacted(t *testing.T) {
	rl, _ := newRL(t)
	const n = 1000
	for i := range n {
		rl.Record(waitertest.Delivery(fmt.Sprintf("k%d", i), 1))
	}
	for i := range n {
		if err := rl.Sent(fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := webhook.UnmatchedQueueLen(rl); got > 64 {
		t.Fatalf("unmatched queue holds %d entries after all %d were matched, want at most 64", got, n)
	}
}
