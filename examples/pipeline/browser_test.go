package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orbital-e2e/orbital/internal/chrome"
)

// A page of another origin that adds traceparent and tracestate to its request makes a real
// browser send a CORS preflight first; the API allows them, the request goes through, and its
// delivery joins the page's trace.
func TestBrowserSendsTraceContextCrossOrigin(t *testing.T) {
	browser, err := chrome.Find("")
	if err != nil {
		if os.Getenv("ORBITAL_REQUIRE_CHROME") == "1" {
			t.Fatalf("%v and ORBITAL_REQUIRE_CHROME=1", err)
		}
		t.Skipf("%v; install chromium to run the browser test", err)
	}
	e := newEnv(t, nil, nil, nil)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>shop</title>")
	}))
	t.Cleanup(page.Close)

	allocCtx, stop := chromedp.NewExecAllocator(context.Background(), chrome.Options(browser, filepath.Join(t.TempDir(), "profile"))...)
	t.Cleanup(stop)
	tab, closeTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(closeTab)
	if err := chromedp.Do(tab, chromedp.Navigate(page.URL)); err != nil { // no timeout on the first call
		t.Fatalf("starting %s: %v", browser, err)
	}
	// The page's origin (its port) differs from the API's: a cross-origin request with
	// non-safelisted headers, so the browser asks the API first.
	js := fmt.Sprintf(`fetch(%q, {method: "POST",
  headers: {"Authorization": "Basic " + btoa(%q + ":"), "Content-Type": "application/json",
            "traceparent": %q, "tracestate": %q},
  body: JSON.stringify({type: "track", event: "from the browser", userId: "u", messageId: "browser-traced"})})
 .then(r => r.json().then(b => r.status + " " + JSON.stringify(b)), err => "failed: " + err)`,
		e.api.URL+"/v1/track", writeKey, traceparent, tracestate)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch in the browser: %v", err)
	}
	if got != `200 {"success":true}` {
		t.Fatalf("the browser's cross-origin POST with traceparent got %q, want 200 {\"success\":true}", got)
	}
	d := e.dest.waitForID(t, "browser-traced", 1)[0]
	if s := span(t, d.Header.Get("traceparent"), "01"); s == parentID {
		t.Errorf("delivery reuses the page's span id %s", s)
	}
	if d.Header.Get("tracestate") != tracestate {
		t.Errorf("delivery tracestate %q, want %q", d.Header.Get("tracestate"), tracestate)
	}
}
