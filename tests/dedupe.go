package tests

import (
	"context"

	"github.com/orbital-e2e/orbital/orbital"
)

// dedupe sends the same event (same messageId) twice, as a client retrying
// after a lost answer does, and checks that it is delivered once.
func (s *suites) dedupe(ctx context.Context, o *orbital.O) {
	s.ready(o)
	id := o.TraceID()
	ev := newEvent(o, id, "dedupe")
	tr := s.follow(o, id)

	tr.Sending()
	s.mustPost(ctx, o, tr, "/v1/track", ev, id, id)
	s.mustPost(ctx, o, tr, "/v1/track", ev, id, id)
	req := s.wait(ctx, o, tr, id)
	s.check(o, id, req, ev)
	s.noSecond(ctx, o, id)
}
