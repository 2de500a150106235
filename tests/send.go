package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// maxAnswerBytes bounds how much of an API answer is read.
const maxAnswerBytes = 64 << 10

// userID is the userId of every event the suites send.
const userID = "orbital-e2e"

// newEvent returns a Segment-spec track event for messageId id, sent by
// suite. Its properties name the case and trace id so that a delivery found
// in the pipeline's logs leads back to the run.
func newEvent(o *orbital.O, id, suite string) map[string]any {
	return map[string]any{
		"type":      "track",
		"event":     "orbital " + suite,
		"messageId": id,
		"userId":    userID,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"properties": map[string]any{
			"suite":   suite,
			"case":    o.Name(),
			"traceId": o.TraceID(),
			"n":       42,
			"nested":  map[string]any{"ok": true, "list": []any{"a", 1.5}},
		},
		"context": map[string]any{
			"library": map[string]any{"name": "orbital", "version": "1"},
		},
	}
}

// answer is the API's reply to one request.
type answer struct {
	status int
	body   string // at most maxAnswerBytes
}

func (a answer) String() string {
	b := strings.TrimSpace(a.body)
	if len(b) > 200 {
		b = b[:200] + "..."
	}
	if b == "" {
		return fmt.Sprintf("%d", a.status)
	}
	return fmt.Sprintf("%d %s", a.status, b)
}

func (a answer) ok() bool { return a.status >= 200 && a.status < 300 }

// post sends v as JSON to path of the tracking API, authenticated with
// writeKey, with a traceparent of run o's trace. The error never contains
// the write key.
func (s *suites) post(ctx context.Context, o *orbital.O, path string, v any, writeKey string) (answer, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return answer{}, fmt.Errorf("encoding the request to %s: %w", path, err)
	}
	return s.postRaw(ctx, o, path, body, writeKey)
}

func (s *suites) postRaw(ctx context.Context, o *orbital.O, path string, body []byte, writeKey string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.api+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: %w", path, err)
	}
	req.SetBasicAuth(writeKey, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TraceparentHeader, orbital.Traceparent(o.TraceID()))
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: %w", path, s.redactErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: reading the answer: %w", path, err)
	}
	return answer{status: resp.StatusCode, body: string(b)}, nil
}

// mustPost posts v, carrying the events ids (named label in messages),
// records the API's answer in tr and fails the run unless the API accepted
// it with a 2xx.
func (s *suites) mustPost(ctx context.Context, o *orbital.O, tr *Trail, path string, v any, label string, ids ...string) {
	o.Helper()
	start := time.Now()
	a, err := s.post(ctx, o, path, v, s.writeKey)
	if err != nil {
		o.Fatalf("messageId %s: not accepted: %v", label, err)
	}
	tr.Answered(start, a.status, ids...)
	if !a.ok() {
		o.Fatalf("messageId %s: refused by the API: POST %s answered %s in %s, want 2xx", label, path, a, round(time.Since(start)))
	}
}

// TraceparentHeader is the W3C Trace Context header every request and Kafka
// message the suites send carries (orbital.Traceparent of the run).
const TraceparentHeader = "traceparent"

// redact removes the write key (plain and URL-encoded) from msg.
func (s *suites) redact(msg string) string { return s.secrets.Replace(msg) }

// redactErr returns err, or an error with the same text minus the write key
// when err's text contains it (the chain is then lost, the secret too).
func (s *suites) redactErr(err error) error {
	if err == nil {
		return nil
	}
	if msg := s.redact(err.Error()); msg != err.Error() {
		return redactedError(msg)
	}
	return err
}

type redactedError string

func (e redactedError) Error() string { return string(e) }
