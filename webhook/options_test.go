package webhook_test

import (
	"fmt"
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
	keys := []string{"forgotten-0"}
	for i := 1; len(keys) < 3; i++ {
		if k := fmt.Sprintf("forgotten-%d", i); webhook.SameShard(rl, keys[0], k) {
			keys = append(keys, k)
		}
	}
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
