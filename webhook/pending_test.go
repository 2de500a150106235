package webhook_test

import (
	"context"
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
