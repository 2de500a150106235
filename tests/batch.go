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
	want := make([]expected, BatchSize)
	events := make([]any, BatchSize)
	for i := range want {
		id := fmt.Sprintf("%s-%02d", o.TraceID(), i)
		ev := newEvent(o, id, "batch")
		ev["properties"].(map[string]any)["index"] = i
		events[i] = ev
		want[i] = expected{id: id, fields: ev}
	}
	tr := s.follow(o, ids(want)...)
	tr.Sending()
	s.mustPost(ctx, o, tr, "/v1/batch", map[string]any{"batch": events}, o.TraceID()+"-00..19", ids(want)...)
	s.deliveredOnce(ctx, o, tr, "batch events", want)
}

// expected is one event a run sent and wants back: its messageId, the
// fields the delivery must carry unchanged and, when library is set, the
// context.library ({"name", "version"}) the client must have put in it.
type expected struct {
	id      string
	fields  map[string]any
	library map[string]any
}

func ids(es []expected) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.id
	}
	return out
}

// deliveredOnce waits for every event of want (what names them in
// messages, e.g. "batch events"), checks each delivery, records the latency
// of the last as delivery.latency and, after the dedupe window, fails the
// run for any event delivered more than once.
func (s *suites) deliveredOnce(ctx context.Context, o *orbital.O, tr *Trail, what string, want []expected) {
	o.Helper()
	sent := tr.sentAt()
	all := ids(want)
	byID := make(map[string]expected, len(want))
	for _, w := range want {
		byID[w.id] = w
	}
	wctx, cancel := context.WithTimeout(ctx, s.deliveryBudget(ctx))
	got, err := s.waiter.WaitN(wctx, len(all), all...)
	cancel()
	if err != nil {
		var missing []string
		for _, id := range all {
			if len(s.waiter.Received(id)) == 0 {
				missing = append(missing, id)
			}
		}
		reason := err.Error()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			reason = "run ended"
		}
		s.undelivered(o, tr, "%d of %d %s not delivered within %s (%s): messageIds %s; %s",
			len(missing), len(all), what, since(sent), reason, strings.Join(missing, ", "), tr.WhereAll(ctx, missing...))
	}
	var last time.Time
	var bad []string // messageIds of deliveries with problems
	for _, req := range got {
		if req.ReceivedAt.After(last) {
			last = req.ReceivedAt
		}
		id := MessageID(req)
		w := byID[id]
		problems := located(id, req, append(s.problems(id, req, w.fields), libraryProblems(id, req, w.library)...))
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
		o.Errorf("%d more deliveries differ: messageIds %s", len(bad)-maxReported, strings.Join(bad[maxReported:], ", "))
	}
	// Give duplicates the same window the other suites give them.
	if !pause(ctx, s.windowFor(ctx)) {
		o.Fatalf("run ended while watching for duplicate deliveries of messageIds %s", strings.Join(all, ", "))
	}
	for _, id := range all {
		switch n := len(s.waiter.Received(id)); n {
		case 1:
		case 2:
			o.Errorf("messageId %s delivered twice", id)
		default:
			o.Errorf("messageId %s delivered %d times, want once", id, n)
		}
	}
}
