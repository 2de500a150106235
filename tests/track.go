package tests

import (
	"context"

	"github.com/orbital-e2e/orbital/orbital"
)

// track sends one event to POST /v1/track and checks that it comes back
// once, processed, with the same fields and a valid signature.
func (s *suites) track(ctx context.Context, o *orbital.O) {
	s.ready(o)
	id := o.TraceID()
	ev := newEvent(o, id, "track")
	tr := s.follow(o, id)

	tr.Sending()
	s.mustPost(ctx, o, tr, "/v1/track", ev, id, id)
	req := s.wait(ctx, o, tr, id)
	s.check(o, id, req, ev)
	s.noSecond(ctx, o, id)
}
