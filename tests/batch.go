package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// maxReported is how many batch events have their differences reported in
// full; the others are only listed.
const maxReported = 3

// batch sends BatchSize events in one POST /v1/batch and checks that each
// comes back exactly once: WaitN for all of them, then, after the dedupe
// window, Received per messageId. The messageIds are the trace id with the
// suffixes -00 to -19.
func (s *suites) batch(ctx context.Context, o *orbital.O) {
	s.ready(o)
	ids := make([]string, BatchSize)
	events := make([]any, BatchSize)
	byID := make(map[string]map[string]any, BatchSize)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%02d", o.TraceID(), i)
		ev := newEvent(o, ids[i], "batch")
		ev["properties"].(map[string]any)["index"] = i
		events[i] = ev
		byID[ids[i]] = ev
	}
	s.expect(o, ids...)

	sent := time.Now()
	s.mustPost(ctx, o, "/v1/batch", map[string]any{"batch": events}, o.TraceID()+"-00..19")
	wctx, cancel := context.WithTimeout(ctx, s.deliveryBudget(ctx))
	got, err := s.waiter.WaitN(wctx, len(ids), ids...)
	cancel()
	if err != nil {
		var missing []string
		for _, id := range ids {
			if len(s.waiter.Received(id)) == 0 {
				missing = append(missing, id)
			}
		}
		reason := err.Error()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			reason = "run ended"
		}
		o.Fatalf("%d of %d batch events not delivered within %s (%s)%s: messageIds %s",
			len(missing), len(ids), since(sent), reason, s.healthNote(), strings.Join(missing, ", "))
	}
	var last time.Time
	var bad []string // messageIds of deliveries with problems
	for _, req := range got {
		if req.ReceivedAt.After(last) {
			last = req.ReceivedAt
		}
		id := MessageID(req)
		problems := s.problems(id, req, byID[id])
		if len(problems) == 0 {
			continue
		}
		bad = append(bad, id)
		if len(bad) <= maxReported {
			for _, p := range problems {
				o.Error(p)
			}
		}
	}
	o.Measure(orbital.DeliveryLatency, last.Sub(sent))
	if len(bad) > maxReported {
		o.Errorf("%d more batch deliveries differ: messageIds %s", len(bad)-maxReported, strings.Join(bad[maxReported:], ", "))
	}

	// Give duplicates the same window the other suites give them.
	if !pause(ctx, s.windowFor(ctx)) {
		o.Fatalf("run ended while watching for duplicate deliveries of messageIds %s-00..19", o.TraceID())
	}
	for _, id := range ids {
		switch n := len(s.waiter.Received(id)); n {
		case 1:
		case 2:
			o.Errorf("messageId %s delivered twice", id)
		default:
			o.Errorf("messageId %s delivered %d times, want once", id, n)
		}
	}
}
