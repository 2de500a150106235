package tests

import (
	"context"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// track sends one event to POST /v1/track and checks that it comes back
// once, processed, with the same fields and a valid signature.
func (s *suites) track(ctx context.Context, o *orbital.O) {
	s.ready(o)
	id := o.TraceID()
	ev := newEvent(o, id, "track")
	s.expect(o, id)

	sent := time.Now()
	s.mustPost(ctx, o, "/v1/track", ev, id)
	req := s.wait(ctx, o, id, sent)
	s.check(o, id, req, ev)
	s.noSecond(ctx, o, id)
}
