package tests

import (
	"context"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// dedupe sends the same event (same messageId) twice, as a client retrying
// after a lost answer does, and checks that it is delivered once.
func (s *suites) dedupe(ctx context.Context, o *orbital.O) {
	s.ready(o)
	id := o.TraceID()
	ev := newEvent(o, id, "dedupe")
	s.expect(o, id)

	sent := time.Now()
	s.mustPost(ctx, o, "/v1/track", ev, id)
	s.mustPost(ctx, o, "/v1/track", ev, id)
	req := s.wait(ctx, o, id, sent)
	s.check(o, id, req, ev)
	s.noSecond(ctx, o, id)
}
