package webhook_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
	"github.com/orbital-e2e/orbital/webhook/waitertest"
)

// wokenWithin bounds how long a blocked waiter may take to return once its
// key stops being pending. The waiters' own deadlines are far longer, so a
// missing wake-up shows as a failure here, not as a slow pass.
const wokenWithin = 5 * time.Second

// waitBlocked waits, with a deadline, until n callers are registered as
// waiters on key: past that point they return only if something wakes them.
func waitBlocked(t *testing.T, rl *webhook.RouteLogger, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for webhook.Waiting(rl, key) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters registered on %q, want %d", webhook.Waiting(rl, key), key, n)
		}
		runtime.Gosched()
	}
}

// TestBlockedWaiterIsWoken blocks each kind of waiter on a pending key,
// proves it is blocked (registered on the key, not merely started), then
// ends the key by Delete or by TTL eviction, and requires every waiter to
// return ErrNotSent promptly instead of sleeping until its own deadline.
func TestBlockedWaiterIsWoken(t *testing.T) {
	const ttl = time.Minute
	waiters := []struct {
		name string
		wait func(ctx context.Context, rl *webhook.RouteLogger) error
	}{
		{"Wait", func(ctx context.Context, rl *webhook.RouteLogger) error {
			_, err := rl.Wait(ctx, "k")
			return err
		}},
		{"WaitN", func(ctx context.Context, rl *webhook.RouteLogger) error {
			_, err := rl.WaitN(ctx, 2, "k", "other")
			return err
		}},
		{"WaitNone", func(ctx context.Context, rl *webhook.RouteLogger) error {
			// d longer than the wake-up bound: returning nil at d would be
			// the missing wake-up.
			return rl.WaitNone(ctx, "k", time.Hour)
		}},
	}
	enders := []struct {
		name string
		end  func(rl *webhook.RouteLogger, advance func(time.Duration))
	}{
		{"Delete", func(rl *webhook.RouteLogger, _ func(time.Duration)) { rl.Delete("k") }},
		{"TTL eviction by a sweep", func(rl *webhook.RouteLogger, advance func(time.Duration)) {
			advance(ttl)
			rl.Len() // sweeps every shard
		}},
		{"TTL eviction by a lookup", func(rl *webhook.RouteLogger, advance func(time.Duration)) {
			advance(ttl)
			rl.Received("k") // finds the key expired and evicts it
		}},
	}
	for _, w := range waiters {
		for _, en := range enders {
			t.Run(w.name+"/"+en.name, func(t *testing.T) {
				rl, clk := newRL(t, webhook.WithTTL(ttl))
				for _, k := range []string{"k", "other"} {
					if err := rl.Sent(k); err != nil {
						t.Fatal(err)
					}
				}
				wctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				const n = 3 // several waiters on one key: every one is woken
				done := make(chan error, n)
				for range n {
					go func() { done <- w.wait(wctx, rl) }()
				}
				waitBlocked(t, rl, "k", n)
				select {
				case err := <-done:
					t.Fatalf("a waiter returned before the key ended: %v", err)
				default:
				}

				en.end(rl, clk.Advance)
				timeout := time.NewTimer(wokenWithin)
				defer timeout.Stop()
				for i := range n {
					select {
					case err := <-done:
						if !errors.Is(err, webhook.ErrNotSent) {
							t.Fatalf("waiter %d returned %v, want ErrNotSent", i, err)
						}
					case <-timeout.C:
						t.Fatalf("%d of %d blocked waiters still asleep %v after %s", n-i, n, wokenWithin, en.name)
					}
				}
			})
		}
	}
}

// TestBlockedWaiterIsWokenByDelivery is the control: the same blocked
// waiter returns the delivery when one comes, so the tests above observe
// waiters that really wait.
func TestBlockedWaiterIsWokenByDelivery(t *testing.T) {
	rl, _ := newRL(t)
	if err := rl.Sent("k"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := rl.Wait(ctx(t), "k")
		if err == nil && r.Body != waitertest.Delivery("k", 7).Body {
			err = errors.New("wrong delivery: " + r.Body)
		}
		done <- err
	}()
	waitBlocked(t, rl, "k", 1)
	rl.Record(waitertest.Delivery("k", 7))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wokenWithin):
		t.Fatal("blocked Wait not woken by a delivery")
	}
	if got := webhook.Waiting(rl, "k"); got != 0 {
		t.Fatalf("%d waiters still registered after Wait returned", got)
	}
}
