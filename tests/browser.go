package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orbital-e2e/orbital/internal/chrome"
	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/orbital"
)

// findChrome returns the browser binary to run: ChromePath when set, else the
// first of chrome.Names on PATH.
func (s *suites) findChrome() (string, error) {
	p, err := chrome.Find(s.chromePath)
	if err != nil && s.chromePath != "" {
		return "", fmt.Errorf("ChromePath: %w", err)
	}
	return p, err
}

// statusJS reads the demo page's #status once the snippet's call finished:
// "sent", or "error: ..."; false (keep polling) before that.
const statusJS = `(function () {
  var e = document.getElementById("status");
  if (!e) return false;
  var t = e.textContent;
  return (t === "sent" || t.indexOf("error") === 0) ? t : false;
})()`

// browser starts a headless Chromium of its own (one per run, with a fresh
// profile in a temporary directory), loads the pipeline's /demo page with
// the run's messageId and the write key, waits for the page to report that
// analytics.js sent the event, then for its delivery. Without a Chrome
// binary the run is skipped, or fails when RequireChrome is set.
func (s *suites) browser(ctx context.Context, o *orbital.O) {
	s.ready(o)
	browserPath, err := s.findChrome()
	if err != nil {
		if s.requireChrome {
			o.Fatalf("%v; RequireChrome (ORBITAL_REQUIRE_CHROME=1) makes this a failure", err)
		}
		o.Skipf("%v; install chromium or set ChromePath to run the browser suite", err)
	}

	id := o.TraceID()
	props := map[string]any{"suite": "browser", "case": o.Name(), "traceId": o.TraceID()}
	propsJSON, err := json.Marshal(props)
	if err != nil {
		o.Fatalf("messageId %s: encoding properties: %v", id, err)
	}
	want := map[string]any{
		"type":       "track",
		"event":      "orbital browser",
		"messageId":  id,
		"userId":     userID,
		"properties": props,
	}
	q := url.Values{}
	q.Set("writeKey", s.writeKey)
	q.Set("messageId", id)
	q.Set("event", "orbital browser")
	q.Set("userId", userID)
	q.Set("properties", string(propsJSON))
	page := s.api + "/demo?" + q.Encode() // holds the write key: never logged

	dir, err := os.MkdirTemp("", "orbital-chrome-")
	if err != nil {
		o.Fatalf("creating the browser's profile directory: %v", err)
	}
	o.Cleanup(func() { removeProfile(o, dir) })
	allocCtx, stopBrowser := chromedp.NewExecAllocator(ctx, chrome.Options(browserPath, dir)...)
	o.Cleanup(stopBrowser) // cancels and waits for the browser to exit
	tab, closeTab := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(string, ...any) {}),
		chromedp.WithErrorf(func(format string, args ...any) {
			s.log.Debug("chromedp: "+s.redact(fmt.Sprintf(format, args...)), "case", o.Name(), "trace_id", o.TraceID())
		}),
	)
	o.Cleanup(closeTab)
	s.expect(o, id)

	// Start the browser first, so that its start-up is not counted as
	// delivery latency.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		o.Fatalf("messageId %s: starting %s: %v", id, browserPath, s.redactErr(err))
	}
	sent := time.Now()
	if err := chromedp.Do(tab, chromedp.Navigate(page)); err != nil {
		o.Fatalf("messageId %s: loading %s/demo: %v", id, redact.URL(s.api), s.redactErr(err))
	}
	pollTimeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		pollTimeout = max(time.Until(dl), time.Millisecond)
	}
	// The page's status is polled inside one awaited Runtime.evaluate, which runs in the
	// current document: chromedp.Poll names the execution context chromedp last recorded, and
	// right after a navigation that can still be the previous document's ("Cannot find context
	// with specified id" on a loaded machine).
	status, err := chromedp.Run(tab, chromedp.Evaluate[string](chrome.PollJS(statusJS, 20*time.Millisecond, pollTimeout),
		chromedp.EvalAwaitPromise))
	if err != nil {
		o.Fatalf("messageId %s: the demo page did not report the event sent within %s: %v", id, since(sent), s.redactErr(err))
	}
	if status != "sent" {
		o.Fatalf("messageId %s: the demo page reported %q, want \"sent\"", id, s.redact(status))
	}
	req := s.wait(ctx, o, id, sent)
	s.check(o, id, req, want)
	s.noSecond(ctx, o, id)
}

// removeProfile removes the browser's profile directory. Chromium's child
// processes may still write there for a moment after the browser exited, so
// it tries a few times.
func removeProfile(o *orbital.O, dir string) {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	o.Logf("removing the browser profile %s: %v", dir, err)
}
