package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/orbital-e2e/orbital/orbital"
)

// AnalyticsGoModule is the Go client the analytics-go suite sends through.
const AnalyticsGoModule = "github.com/segmentio/analytics-go/v3"

// analyticsGoBatch is how many track calls the analytics-go suite sends in
// its one batch.
const analyticsGoBatch = 5

// AnalyticsGoVersion is the version of AnalyticsGoModule go.mod requires.
const AnalyticsGoVersion = "v3.3.0"

// analyticsGoVersion is the module version of analytics-go built into this
// binary, e.g. "v3.3.0"; AnalyticsGoVersion where the binary has no module
// information (test binaries). The client calls itself analytics.Version in
// context.library: "3.0.0" in v3.3.0.
func analyticsGoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == AnalyticsGoModule {
				if m.Replace != nil {
					m = m.Replace
				}
				return m.Version
			}
		}
	}
	return AnalyticsGoVersion
}

// AnalyticsGoLibrary is the context.library of every event analytics-go
// sends: {"name": "analytics-go", "version": analytics.Version}.
func AnalyticsGoLibrary() map[string]any {
	return map[string]any{"name": "analytics-go", "version": analytics.Version}
}

// goCallback collects analytics-go's Success and Failure callbacks.
type goCallback struct {
	mu      sync.Mutex
	ok      int
	failed  []string
	redact  func(string) string
	expects int
	done    chan struct{} // closed when expects callbacks came
}

func newGoCallback(n int, redact func(string) string) *goCallback {
	return &goCallback{expects: n, redact: redact, done: make(chan struct{})}
}

func (c *goCallback) Success(analytics.Message) { c.count("") }

func (c *goCallback) Failure(m analytics.Message, err error) {
	c.count(fmt.Sprintf("%s: %s", describeGoMessage(m), c.redact(err.Error())))
}

func (c *goCallback) count(failure string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if failure == "" {
		c.ok++
	} else {
		c.failed = append(c.failed, failure)
	}
	if c.ok+len(c.failed) == c.expects {
		close(c.done)
	}
}

func (c *goCallback) result() (ok int, failed []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok, append([]string(nil), c.failed...)
}

func describeGoMessage(m analytics.Message) string {
	switch m := m.(type) {
	case analytics.Track:
		return "track " + m.MessageId
	case analytics.Identify:
		return "identify " + m.MessageId
	case analytics.Page:
		return "page " + m.MessageId
	}
	return fmt.Sprintf("%T", m)
}

// goLogger sends analytics-go's log lines to the run's output, without the
// write key.
type goLogger struct {
	o      *orbital.O
	redact func(string) string
}

func (l goLogger) Logf(format string, args ...any) {
	l.o.Logf("analytics-go: %s", l.redact(fmt.Sprintf(format, args...)))
}

func (l goLogger) Errorf(format string, args ...any) {
	l.o.Logf("analytics-go error: %s", l.redact(fmt.Sprintf(format, args...)))
}

// analyticsGo sends through Segment's Go client, analytics-go, as a Go
// service does: a track, an identify and a page, each in a request of its
// own (BatchSize 1), then analyticsGoBatch track calls that the client sends
// together in one batch when it is closed. Every call must be reported sent
// by the client's Success callback and come back once, unchanged, with the
// client's context.library (which analytics-go sends once per batch; the
// pipeline must merge it into each event). The messageIds are the trace id
// (track), with -identify and -page, and -b00 to -b04 for the batch.
func (s *suites) analyticsGo(ctx context.Context, o *orbital.O) {
	s.ready(o)
	id := o.TraceID()
	lib := AnalyticsGoLibrary()
	o.Logf("sending through %s %s (context.library %s %s)", AnalyticsGoModule, analyticsGoVersion(), lib["name"], lib["version"])

	props := func(call string, i int) map[string]any {
		return map[string]any{"suite": "analytics-go", "call": call, "case": o.Name(), "traceId": id, "index": i}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	single := []analytics.Message{
		analytics.Track{MessageId: id, UserId: userID, Event: "orbital analytics-go", Timestamp: now, Properties: props("track", 0)},
		analytics.Identify{MessageId: id + "-identify", UserId: userID, Timestamp: now, Traits: analytics.Traits{"orbital": true, "case": o.Name()}},
		analytics.Page{MessageId: id + "-page", UserId: userID, Name: "orbital analytics-go", Timestamp: now, Properties: props("page", 0)},
	}
	var batch []analytics.Message
	for i := range analyticsGoBatch {
		batch = append(batch, analytics.Track{
			MessageId: fmt.Sprintf("%s-b%02d", id, i), UserId: userID, Event: "orbital analytics-go batch",
			Timestamp: now, Properties: props("batch", i),
		})
	}
	var want []expected
	for _, m := range append(append([]analytics.Message(nil), single...), batch...) {
		want = append(want, expectedGo(m, lib))
	}
	tr := s.follow(o, ids(want)...)

	tr.Sending()
	s.sendGo(ctx, o, tr, 1, single)
	s.sendGo(ctx, o, tr, len(batch), batch)
	s.deliveredOnce(ctx, o, tr, "analytics-go events", want)
}

// sendGo sends msgs through a client of its own whose BatchSize is
// batchSize (a multiple of len(msgs) divides them into full batches, which
// the client sends as they fill), waits for the client's callback on each,
// then closes the client. The run fails unless the client reported every
// message sent; a refused request is retried by the client (10 attempts)
// until then.
func (s *suites) sendGo(ctx context.Context, o *orbital.O, tr *Trail, batchSize int, msgs []analytics.Message) {
	o.Helper()
	cb := newGoCallback(len(msgs), s.redact)
	client, err := analytics.NewWithConfig(s.writeKey, analytics.Config{
		Endpoint:   s.api,
		Interval:   time.Hour, // batches go when full, not on a timer
		BatchSize:  batchSize,
		Transport:  &tracedTransport{base: s.client.Transport, o: o, tr: tr, ids: goIDs(msgs)},
		Logger:     goLogger{o: o, redact: s.redact},
		Callback:   cb,
		RetryAfter: func(int) time.Duration { return 200 * time.Millisecond },
	})
	if err != nil {
		o.Fatalf("analytics-go: %v", s.redactErr(err))
	}
	defer func() { _ = client.Close() }() // gives up on what is still being retried
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			o.Fatalf("analytics-go: enqueueing %s: %v", describeGoMessage(m), s.redactErr(err))
		}
	}
	select {
	case <-cb.done:
	case <-ctx.Done():
		ok, _ := cb.result()
		o.Fatalf("analytics-go reported %d of %d messages sent when the run ended", ok, len(msgs))
	}
	ok, failed := cb.result()
	for _, f := range failed {
		o.Errorf("analytics-go reported a failed send: %s", f)
	}
	if len(failed) > 0 {
		o.Fatalf("analytics-go sent %d of %d messages", ok, len(msgs))
	}
}

// expectedGo is what the delivery of an analytics-go message must carry.
func expectedGo(m analytics.Message, lib map[string]any) expected {
	e := expected{library: lib}
	switch m := m.(type) {
	case analytics.Track:
		e.id = m.MessageId
		e.fields = map[string]any{"type": "track", "event": m.Event, "messageId": m.MessageId, "userId": m.UserId,
			"properties": map[string]any(m.Properties), "timestamp": m.Timestamp.Format(time.RFC3339Nano)}
	case analytics.Identify:
		e.id = m.MessageId
		e.fields = map[string]any{"type": "identify", "messageId": m.MessageId, "userId": m.UserId,
			"traits": map[string]any(m.Traits)}
	case analytics.Page:
		e.id = m.MessageId
		e.fields = map[string]any{"type": "page", "name": m.Name, "messageId": m.MessageId, "userId": m.UserId,
			"properties": map[string]any(m.Properties)}
	}
	return e
}

// goIDs are the messageIds of msgs.
func goIDs(msgs []analytics.Message) []string {
	var out []string
	for _, m := range msgs {
		switch m := m.(type) {
		case analytics.Track:
			out = append(out, m.MessageId)
		case analytics.Identify:
			out = append(out, m.MessageId)
		case analytics.Page:
			out = append(out, m.MessageId)
		}
	}
	return out
}

// tracedTransport carries analytics-go's requests: it adds the run's
// traceparent to each and records the API's answer in the Trail for every
// messageId of ids the request's body holds.
type tracedTransport struct {
	base http.RoundTripper // nil: http.DefaultTransport
	o    *orbital.O
	tr   *Trail
	ids  []string
}

func (t *tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			body, _ = io.ReadAll(io.LimitReader(rc, maxGoBodyBytes))
			_ = rc.Close()
		}
	}
	req = req.Clone(req.Context())
	req.Header.Set(TraceparentHeader, orbital.Traceparent(t.o.TraceID()))
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	start := time.Now()
	resp, err := base.RoundTrip(req)
	if err == nil {
		t.tr.Answered(start, resp.StatusCode, idsIn(body, t.ids)...)
	}
	return resp, err
}

// maxGoBodyBytes bounds how much of an analytics-go request is searched for
// messageIds (its batches stay far below it).
const maxGoBodyBytes = 1 << 20

// idsIn returns the messageIds of ids that body holds as JSON strings.
func idsIn(body []byte, ids []string) []string {
	var out []string
	for _, id := range ids {
		if bytes.Contains(body, []byte(`"`+id+`"`)) {
			out = append(out, id)
		}
	}
	return out
}
