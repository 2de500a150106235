package webhook_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
	"github.com/orbital-e2e/orbital/webhook/waitertest"
)

func TestRouteLoggerPending(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		prep func(rl *webhook.RouteLogger)
		key  string
		want bool
	}{
		{"never sent", func(*webhook.RouteLogger) {}, "k", false},
		{"empty key", func(*webhook.RouteLogger) {}, "", false},
		{"sent", func(rl *webhook.RouteLogger) { rl.Sent("k") }, "k", true},
		{"sent and matched", func(rl *webhook.RouteLogger) {
			rl.Sent("k")
			rl.Record(waitertest.Delivery("k", 1))
		}, "k", true},
		{"other key sent", func(rl *webhook.RouteLogger) { rl.Sent("other") }, "k", false},
		{"deleted", func(rl *webhook.RouteLogger) { rl.Sent("k"); rl.Delete("k") }, "k", false},
		{"unmatched delivery only", func(rl *webhook.RouteLogger) { rl.Record(waitertest.Delivery("k", 1)) }, "k", false},
		{"past its TTL", func(rl *webhook.RouteLogger) { rl.Sent("k"); now = now.Add(time.Hour) }, "k", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = start
			rl := webhook.NewRouteLogger(webhook.JSONField(waitertest.KeyField),
				webhook.WithClock(clock), webhook.WithTTL(time.Minute))
			tt.prep(rl)
			if got := rl.Pending(tt.key); got != tt.want {
				t.Fatalf("Pending(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestRouteLoggerPendingDoesNotRecord(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.JSONField(waitertest.KeyField))
	rl.Sent("k")
	rl.Pending("k")
	if got := rl.Received("k"); len(got) != 0 {
		t.Fatalf("Received after Pending: %d deliveries, want 0", len(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := rl.Wait(ctx, "k"); err == nil {
		t.Fatal("Wait after Pending alone returned a delivery")
	}
}

func TestRouteLoggerKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"field present", `{"messageId":"abc"}`, "abc"},
		{"field missing", `{"other":1}`, ""},
		{"not JSON", `nope`, ""},
	}
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rl.Key(webhook.Request{Body: tt.body}); got != tt.want {
				t.Fatalf("Key = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRealClockTTL: without WithClock the TTL runs on the real (monotonic)
// clock: a key is pending right after Sent and expires once its TTL has
// passed, and an early delivery is matched within the grace period.
func TestRealClockTTL(t *testing.T) {
	const ttl = 20 * time.Millisecond
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithTTL(ttl))
	start := time.Now()
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	if !rl.Pending("k") && time.Since(start) < ttl {
		t.Fatal("not pending right after Sent")
	}
	for deadline := time.Now().Add(10 * time.Second); rl.Pending("k"); {
		if time.Now().After(deadline) {
			t.Fatalf("still pending %v after Sent with a TTL of %v", time.Since(start), ttl)
		}
		runtime.Gosched()
	}
	if waited := time.Since(start); waited < ttl {
		t.Fatalf("expired after %v, before its TTL of %v", waited, ttl)
	}
	rl.Record(waitertest.Delivery("early", 1))
	if err := rl.Sent("early"); err != nil {
		t.Fatal(err)
	}
	if got := rl.Received("early"); len(got) != 1 {
		t.Fatalf("early delivery not matched by Sent: %d", len(got))
	}
}
