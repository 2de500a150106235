package webhook_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
)

func TestWaitFor(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.Header("X-Id"))
	if err := rl.Sent("lost"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := rl.WaitFor(context.Background(), "lost", 50*time.Millisecond)
	var nd *webhook.NotDeliveredError
	if !errors.As(err, &nd) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor on a lost delivery: %v, want a NotDeliveredError wrapping DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "lost not delivered within 50ms") {
		t.Errorf("error %q does not say what was not delivered within what", err)
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("WaitFor returned after %s, before its deadline", el)
	}

	// ctx ending first is ctx's error, not "not delivered".
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rl.WaitFor(ctx, "lost", time.Hour); !errors.Is(err, context.Canceled) || errors.As(err, &nd) {
		t.Errorf("WaitFor with a cancelled ctx: %v, want context.Canceled", err)
	}

	// A delivery arrives in time.
	if err := rl.Sent("ok"); err != nil {
		t.Fatal(err)
	}
	rl.Record(webhook.Request{Header: map[string][]string{"X-Id": {"ok"}}, Body: "b"})
	if r, err := rl.WaitFor(context.Background(), "ok", time.Second); err != nil || r.Body != "b" {
		t.Errorf("WaitFor = %+v, %v", r, err)
	}
}
