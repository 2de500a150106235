package webhook

import (
	"context"
	"fmt"
	"time"
)

// NotDeliveredError is the error of [RouteLogger.WaitFor] when its own
// deadline passed before a delivery: it says "KEY not delivered within D" and
// wraps context.DeadlineExceeded.
type NotDeliveredError struct {
	Key    string
	Within time.Duration
}

func (e *NotDeliveredError) Error() string {
	return fmt.Sprintf("%s not delivered within %s", e.Key, e.Within)
}

// Unwrap returns context.DeadlineExceeded.
func (e *NotDeliveredError) Unwrap() error { return context.DeadlineExceeded }

// WaitFor is Wait with a deadline of its own: it waits at most d for key's
// first delivery. When d passes first it returns a *NotDeliveredError ("KEY
// not delivered within D", wrapping context.DeadlineExceeded); when ctx ends
// first, Wait's error wrapping ctx's. A test that waits with WaitFor and
// fails on its error is a failure, not a run timeout: the run's own
// deadline is untouched, so its cleanups and checks still run in time.
func (l *RouteLogger) WaitFor(ctx context.Context, key string, d time.Duration) (Request, error) {
	// The usual case needs no timer: the Webhook records a delivery before
	// it answers the sender, so a test that sent through a fast pipeline
	// often finds it already there (Wait would return it at once too).
	if r, ok, err := l.first(key, "Wait"); ok || err != nil {
		return r, err
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	r, err := l.Wait(wctx, key)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return r, &NotDeliveredError{Key: key, Within: d}
	}
	return r, err
}
