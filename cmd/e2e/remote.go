package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// Bounds of `e2e gate --server`.
const (
	// answerGrace is how long past a case's timeout the gate waits for the service's answer.
	answerGrace = 30 * time.Second
	// busyBackoffMin and busyBackoffMax bound the wait between tries of a busy case (409).
	busyBackoffMin = 100 * time.Millisecond
	busyBackoffMax = 2 * time.Second
	// maxAnswer bounds an API answer read (a window of many runs with their logs).
	maxAnswer = 256 << 20
	// listTimeout bounds GET /api/cases and GET /api/runs.
	listTimeout = time.Minute
)

// errBusy is the service's 409: the case has a run in flight.
var errBusy = errors.New("the case has a run in flight")

// remote is the client of a running service's status API (`e2e gate --server`). It is
// safe for concurrent use.
type remote struct {
	base   string // --server without a trailing slash
	shown  string // base with credentials hidden, for messages
	token  string
	client *http.Client
	logger *slog.Logger
}

func newRemote(o *options, logger *slog.Logger) *remote {
	return &remote{
		base:   strings.TrimRight(o.server, "/"),
		shown:  redact.URL(o.server),
		token:  o.cfg.AdminToken,
		client: &http.Client{},
		logger: logger,
	}
}

// do sends one request and decodes a 200 answer into v. A 409 is errBusy; every other
// failure (unreachable, refused token, an unexpected answer) is an error saying so, whose
// text never carries the token.
func (rc *remote) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, rc.base+path, nil)
	if err != nil {
		return fmt.Errorf("request to %s: %w", rc.shown, err)
	}
	req.Header.Set("Accept", "application/json")
	if method == http.MethodPost {
		req.Header.Set("Authorization", "Bearer "+rc.token)
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its text repeats the URL; say it once, redacted
			err = ue.Err
		}
		return fmt.Errorf("cannot reach the service at %s: %w", rc.shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", method, rc.shown+path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("%s %s: the answer is not orbital's API JSON (is --server an orbital service?): %w", method, rc.shown+path, err)
		}
		return nil
	case http.StatusConflict:
		return errBusy
	case http.StatusUnauthorized:
		return fmt.Errorf("the service at %s refused the admin token (401): check --admin-token / ORBITAL_ADMIN_TOKEN", rc.shown)
	case http.StatusForbidden:
		return fmt.Errorf("the service at %s does not accept manual runs (403: it was started without --admin-token)", rc.shown)
	}
	return fmt.Errorf("%s %s answered %s: %s", method, rc.shown+path, resp.Status, apiMessage(body))
}

// apiMessage is the "error" of an API error answer, or the start of the body.
func apiMessage(body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return string(bytes.ToValidUTF8(body[:min(len(body), 200)], nil))
}

// cases returns the service's registered top-level cases that --run selects.
func (rc *remote) cases(ctx context.Context, o *options) ([]status.Row, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var rows []status.Row
	if err := rc.do(ctx, http.MethodGet, "/api/cases", &rows); err != nil {
		return nil, err
	}
	var picked []status.Row
	var known []string
	for _, r := range rows {
		if r.Registered && r.Depth == 0 {
			known = append(known, r.Name)
			if o.cfg.Run.MatchString(r.Name) {
				picked = append(picked, r)
			}
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("no case selected on %s (--run %q, cases: %s)", rc.shown, o.run, strings.Join(known, ", "))
	}
	return picked, nil
}

// runCase runs the case name once on the service. While the case is busy (a scheduled run
// in flight, which ends within the case's timeout wait) it tries again with backoff, for at
// most wait plus answerGrace; then the run has as long to answer. A case still busy after
// that, or a service that does not answer in time, is a failed result saying so; any other
// error ends the gate.
func (rc *remote) runCase(ctx context.Context, name string, wait time.Duration) (orbital.Result, error) {
	busyUntil := time.Now().Add(wait + answerGrace)
	backoff := busyBackoffMin
	for {
		actx, cancel := context.WithTimeout(ctx, wait+answerGrace)
		var run status.Run
		err := rc.do(actx, http.MethodPost, "/api/cases/"+name+"/run", &run)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return resultOf(run, ""), nil
		case timedOut:
			return gateFailure(name, fmt.Sprintf("the service at %s did not answer within %s (the case's timeout + %s)", rc.shown, wait+answerGrace, answerGrace)), nil
		case !errors.Is(err, errBusy):
			return orbital.Result{}, err
		case time.Now().Add(backoff).After(busyUntil):
			return gateFailure(name, fmt.Sprintf("still busy with another run after waiting %s (its timeout + %s)", wait+answerGrace, answerGrace)), nil
		case backoff == busyBackoffMin:
			rc.logger.Info("gate: case busy with another run on the service; waiting for it", "case", name, "up_to", wait+answerGrace)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return orbital.Result{}, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, busyBackoffMax)
	}
}

// window returns the service's history of the cases --run selects over the last since.
func (rc *remote) window(ctx context.Context, o *options) (status.Window, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	q := url.Values{"since": {o.since.String()}}
	if o.run != "" {
		q.Set("run", o.run)
	}
	var w status.Window
	err := rc.do(ctx, http.MethodGet, "/api/runs?"+q.Encode(), &w)
	return w, err
}

// resultOf turns a run of the API back into the Result the service reported, subtests
// included; a subtest without a parent (an older service) gets parent.
func resultOf(r status.Run, parent string) orbital.Result {
	res := orbital.Result{
		Case:     r.Case,
		Parent:   r.Parent,
		TraceID:  r.TraceID,
		Start:    r.Start,
		Duration: time.Duration(r.DurationSeconds * float64(time.Second)),
		Outcome:  orbital.Outcome(r.Outcome),
		TimedOut: r.TimedOut,
		Output:   r.Output,
		Error:    r.Error,
	}
	if res.Parent == "" {
		res.Parent = parent
	}
	if len(r.Measures) > 0 {
		res.Measures = make(map[string]time.Duration, len(r.Measures))
		for k, v := range r.Measures {
			res.Measures[k] = time.Duration(v * float64(time.Second))
		}
	}
	for _, sub := range r.Subtests {
		res.Subtests = append(res.Subtests, resultOf(sub, r.Case))
	}
	return res
}

// gateFailure is a failed result the gate itself records for name: no run of the service
// stands behind it (a case still busy, no run in a --since window).
func gateFailure(name, reason string) orbital.Result {
	return orbital.Result{
		Case:    name,
		Start:   time.Now(),
		Outcome: orbital.Fail,
		Error:   reason,
		Output:  fmt.Sprintf("--- FAIL: %s (0.00s)\n    %s\n", name, reason),
	}
}
