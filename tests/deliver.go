package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

func (s *suites) webhookOrUnknown() string {
	if s.webhookURL == "" {
		return "(URL not configured)"
	}
	return s.webhookURL
}

// wait blocks until id is delivered, records the send-to-delivery latency
// and returns the delivery; it fails the run when the delivery budget
// (deliveryBudget) passes first, with time left for the run's own checks, so
// a lost event is a failure that says where it stopped (Trail.Where) and
// never a run timeout; unless the Harness's Health reports why deliveries
// cannot reach this replica (the cluster relay is unreachable): then the run
// is inconclusive, since the pipeline may well have delivered the event to
// another replica.
func (s *suites) wait(ctx context.Context, o *orbital.O, tr *Trail, id string) webhook.Request {
	o.Helper()
	sent := tr.sentAt()
	req, err := s.waiter.WaitFor(ctx, id, s.deliveryBudget(ctx))
	if err != nil {
		if ctx.Err() == context.Canceled { // the service stopped the run: orbital reports it inconclusive
			o.Fatalf("messageId %s: run cut short after %s, before a delivery: %v", id, since(sent), context.Cause(ctx))
		}
		where := tr.Where(ctx, id)
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			s.undelivered(o, tr, "messageId %s not delivered within %s: %s", id, since(sent), where)
		}
		s.undelivered(o, tr, "messageId %s not delivered within %s: %s (%v)", id, since(sent), where, err)
	}
	o.Measure(orbital.DeliveryLatency, req.ReceivedAt.Sub(sent))
	return req
}

// undelivered ends the run for deliveries that did not come: it fails, or,
// when the Harness's Health reports why deliveries may not reach this
// replica (the cluster relay is unreachable), it is inconclusive with that
// reason appended, " (cluster: kafka unreachable: ...)".
func (s *suites) undelivered(o *orbital.O, tr *Trail, format string, args ...any) {
	o.Helper()
	msg := fmt.Sprintf(format, args...)
	if link := tr.link(); link != "" {
		msg += " (trace: " + link + ")"
	}
	if s.health != nil {
		if err := s.health(); err != nil {
			o.Inconclusivef("%s (%v): deliveries may not reach this replica, so no verdict", msg, err)
		}
	}
	o.Fatal(msg)
}

// MessageID is the key the suites match deliveries by: the event's JSON field messageId.
// Build the Harness's Waiter with it: webhook.NewRouteLogger(tests.MessageID).
func MessageID(r webhook.Request) string { return messageIDField(r) }

var messageIDField = webhook.JSONField("messageId")

// deliveryBudget is how long a run waits for a delivery: Harness.DeliveryTimeout, or what the
// run's deadline leaves minus a reserve for the reporting after it (a tenth of what is left,
// between 100ms and 5s; the dedupe watch shortens itself). Without a deadline:
// DefaultDeliveryTimeout.
func (s *suites) deliveryBudget(ctx context.Context) time.Duration {
	if s.deliveryTimeout > 0 {
		return s.deliveryTimeout
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return DefaultDeliveryTimeout
	}
	left := time.Until(dl)
	reserve := min(max(left/10, 100*time.Millisecond), 5*time.Second)
	return max(left-reserve, left/2)
}

// since is the time elapsed since t, rounded for messages.
func since(t time.Time) time.Duration {
	return time.Since(t).Round(10 * time.Millisecond)
}

// window returns how long to watch for unexpected deliveries: the Harness's
// DedupeWindow, or half of what is left before ctx's deadline if that is
// less, so that the run still ends in time.
func (s *suites) windowFor(ctx context.Context) time.Duration {
	w := s.window
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) / 2; left < w {
			w = max(left, 0)
		}
	}
	return w
}

// noSecond fails the run if id gets another delivery (beyond the one Wait
// returned) within the window.
func (s *suites) noSecond(ctx context.Context, o *orbital.O, id string) {
	o.Helper()
	w := s.windowFor(ctx)
	err := s.waiter.WaitNone(ctx, id, w)
	switch {
	case err == nil:
	case errors.Is(err, webhook.ErrUnexpectedDelivery):
		o.Errorf("messageId %s delivered twice (a second delivery came within %s of the first)", id, w)
	default:
		o.Errorf("messageId %s: watching %s for a second delivery: %v", id, w, err)
	}
}

// pause waits for d or until ctx ends, and reports whether d elapsed.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// check verifies one delivery of the event want and fails the run with one
// message per problem found (see problems).
func (s *suites) check(o *orbital.O, id string, req webhook.Request, want map[string]any) {
	o.Helper()
	for _, p := range located(id, req, s.problems(id, req, want)) {
		o.Error(p)
	}
}

// located says in the first of problems (found in delivery req of id) that
// the event was delivered, so the failure names the hop where it went
// wrong: "messageId X: delivered (attempt 1), but field event differs: ...".
func located(id string, req webhook.Request, problems []string) []string {
	if len(problems) == 0 {
		return problems
	}
	where := "delivered"
	if n := req.Header.Get(attemptHeader); n != "" {
		where += " (attempt " + n + ")"
	}
	prefix := "messageId " + id + ": "
	out := slices.Clone(problems)
	out[0] = prefix + where + ", but " + strings.TrimPrefix(out[0], prefix)
	return out
}

// problems checks one delivery of the event want: a valid signature (when
// the Harness has a secret), "processed": true, and every field of want
// unchanged. Fields the pipeline adds at the top level (receivedAt,
// context...) are allowed; inside a field every key must match. It returns
// one message per problem, each naming the messageId.
func (s *suites) problems(id string, req webhook.Request, want map[string]any) []string {
	var out []string
	add := func(format string, args ...any) {
		out = append(out, fmt.Sprintf("messageId %s: ", id)+fmt.Sprintf(format, args...))
	}
	if len(s.secret) > 0 {
		switch err := webhook.VerifySignature(s.secret, req.Header, []byte(req.Body)); {
		case errors.Is(err, webhook.ErrNoSignature):
			add("delivery has no webhook-signature or %s header", webhook.DefaultSignatureHeader)
		case err != nil:
			header, _, _ := strings.Cut(err.Error(), ":")
			add("%s is not a valid signature of the delivered body", header)
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(req.Body), &got); err != nil || got == nil {
		add("delivered body is not a JSON object: %q", truncate(req.Body, 200))
		return out
	}
	if p, ok := got["processed"]; !ok {
		add("field processed missing, want true")
	} else if p != true {
		add("field processed differs: got %s want true", jsonText(p))
	}
	for _, d := range diff(normalize(want), got) {
		add("%s", d)
	}
	return out
}

// normalize round-trips v through JSON so that it compares with a decoded
// body (numbers become float64, structs maps).
func normalize(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// diff compares the fields of want with got: at the top level only the keys
// of want, below it every key. It returns one message per difference,
// sorted by path.
func diff(want, got map[string]any) []string {
	var out []string
	keys := mapKeys(want)
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, diffValue(k, want[k], got[k], hasKey(got, k))...)
	}
	return out
}

func diffValue(path string, want, got any, present bool) []string {
	if !present {
		return []string{fmt.Sprintf("field %s missing, want %s", path, jsonText(want))}
	}
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if !wok || !gok {
		if reflect.DeepEqual(want, got) {
			return nil
		}
		return []string{fmt.Sprintf("field %s differs: got %s want %s", path, jsonText(got), jsonText(want))}
	}
	var out []string
	keys := mapKeys(wm)
	for k := range gm {
		if !hasKey(wm, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := path + "." + k
		if !hasKey(wm, k) {
			out = append(out, fmt.Sprintf("field %s unexpected: got %s", p, jsonText(gm[k])))
			continue
		}
		out = append(out, diffValue(p, wm[k], gm[k], hasKey(gm, k))...)
	}
	return out
}

func mapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// jsonText formats a decoded JSON value for a message.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return truncate(string(b), 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// libraryProblems checks that the delivery's context.library is want (the
// client's {"name", "version"}; nil: nothing to check): the proof that the event went through that
// client and that the pipeline kept what it said about itself.
func libraryProblems(id string, req webhook.Request, want map[string]any) []string {
	if want == nil {
		return nil
	}
	var got struct {
		Context struct {
			Library any `json:"library"`
		} `json:"context"`
	}
	_ = json.Unmarshal([]byte(req.Body), &got) // problems reports a body that is not JSON
	if got.Context.Library == nil {
		return []string{fmt.Sprintf("messageId %s: field context.library missing, want %s (the client's batch-level context was not merged in?)", id, jsonText(want))}
	}
	var out []string
	for _, d := range diffValue("context.library", normalize(want), got.Context.Library, true) {
		out = append(out, fmt.Sprintf("messageId %s: %s", id, d))
	}
	return out
}
