package tests

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

// wrongWriteKey is the write key the reject suite expects the API to refuse.
const wrongWriteKey = "orbital-e2e-wrong-write-key"

// reject sends a track event without an event name (invalid under the
// Segment spec) and expects a 4xx, and a valid event with a wrong write key
// and expects 401; then it checks that neither is ever delivered (within
// the dedupe window). Nothing is delivered, so it records no delivery
// latency.
func (s *suites) reject(ctx context.Context, o *orbital.O) {
	s.ready(o)
	invalidID := o.TraceID()
	badKeyID := o.TraceID() + "-badkey"
	s.follow(o, invalidID, badKeyID)

	invalid := newEvent(o, invalidID, "reject")
	delete(invalid, "event")
	a, err := s.post(ctx, o, "/v1/track", invalid, s.writeKey)
	switch {
	case err != nil:
		o.Fatalf("messageId %s: %v", invalidID, err)
	case a.status < 400 || a.status > 499:
		o.Errorf("messageId %s: an event without \"event\" got %s, want a 4xx", invalidID, a)
	}

	if s.writeKey == wrongWriteKey {
		o.Fatalf("the harness's write key is the one this suite uses as a wrong key")
	}
	a, err = s.post(ctx, o, "/v1/track", newEvent(o, badKeyID, "reject"), wrongWriteKey)
	switch {
	case err != nil:
		o.Fatalf("messageId %s: %v", badKeyID, err)
	case a.status != http.StatusUnauthorized:
		o.Errorf("messageId %s: an event with a wrong write key got %s, want 401", badKeyID, a)
	}

	// One window covers both: the second check only looks at what came
	// during the first.
	w := s.windowFor(ctx)
	s.neverDelivered(ctx, o, invalidID, "invalid event", w)
	s.neverDelivered(ctx, o, badKeyID, "event with a wrong write key", time.Millisecond)
}

func (s *suites) neverDelivered(ctx context.Context, o *orbital.O, id, what string, d time.Duration) {
	o.Helper()
	err := s.waiter.WaitNone(ctx, id, d)
	switch {
	case err == nil:
	case errors.Is(err, webhook.ErrUnexpectedDelivery):
		o.Errorf("messageId %s: the rejected %s was delivered", id, what)
	default:
		o.Errorf("messageId %s: watching for a delivery of the rejected %s: %v", id, what, err)
	}
}
