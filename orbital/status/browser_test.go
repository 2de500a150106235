package status_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orbital-e2e/orbital/internal/chrome"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// chromePath finds Chromium; without it the browser test is skipped, or
// fails when ORBITAL_REQUIRE_CHROME=1 (as in CI).
func chromePath(t *testing.T) string {
	t.Helper()
	p, err := chrome.Find("")
	if err == nil {
		return p
	}
	if os.Getenv("ORBITAL_REQUIRE_CHROME") == "1" {
		t.Fatalf("%v and ORBITAL_REQUIRE_CHROME=1", err)
	}
	t.Skipf("%v; install chromium to run the browser test", err)
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and returns a
// tab; the browser is stopped and its profile removed at cleanup.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	browser := chromePath(t)
	dir, err := os.MkdirTemp("", "orbital-status-chrome-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may still write there for a moment after it exited.
		for range 50 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("removing the browser profile %s: %v", dir, err)
	})
	allocCtx, stop := chromedp.NewExecAllocator(context.Background(), chrome.Options(browser, dir)...)
	t.Cleanup(stop)
	tab, closeTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(closeTab)
	// Start the browser under the tab's own context (a timeout there would
	// stop the browser); later steps get deadlines of their own.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	return tab
}

// step runs actions on tab with a deadline and fails the test with what on
// error.
func step(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression on tab.
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy.
//
// It polls inside one Runtime.evaluate, which runs in the page's current
// document, rather than with chromedp.Poll: Poll names the execution context
// chromedp last recorded, and right after a Navigate that can still be the
// previous document's (chromedp's navigation wait and its context bookkeeping
// run on different goroutines), which fails with "Cannot find context with
// specified id" on a loaded machine.
func waitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	const limit = 20 * time.Second
	ctx, cancel := context.WithTimeout(tab, limit)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](chrome.PollJS(expr, 50*time.Millisecond, limit), chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// TestPageInBrowser runs a real Service whose case "flaky" fails once a
// fault is injected, serves the status page, and drives it in headless
// Chromium: the rows appear, flaky turns from pass to fail without a reload,
// and clicking it shows the failed run's log first; "relay" turns
// inconclusive at the same time, in its own colour and count.
func TestPageInBrowser(t *testing.T) {
	var fault atomic.Bool
	cases := []orbital.TestCase{
		{Name: "track", Period: 100 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
			o.Logf("messageId %s: delivered", o.TraceID())
			o.Measure("delivery.latency", 12*time.Millisecond)
		}},
		{Name: "flaky", Period: 100 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
			o.Logf("messageId %s: sent", o.TraceID())
			if fault.Load() {
				o.Fatalf("messageId %s: not delivered within 2s (fault injected: drop=1)", o.TraceID())
			}
			o.Measure("delivery.latency", 30*time.Millisecond)
			o.Log("delivered <b>once</b>") // markup in a log stays text
		}},
		{Name: "relay", Period: 100 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
			if fault.Load() {
				o.Inconclusive("cluster relay unreachable")
			}
		}},
		{Name: "batch", Period: 100 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
			o.Run("first", func(ctx context.Context, o *orbital.O) { o.Log("ok") })
			o.Run("second", func(ctx context.Context, o *orbital.O) { o.Log("ok") })
		}},
	}
	f := newFixture(t, status.Config{Version: "v1.2.3-test", Target: "embedded"}, cases...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Service.Run: %v", err)
		}
	})

	tab := newBrowser(t)
	step(t, tab, "loading the page", chromedp.Navigate(f.srv.URL+"/"))

	// The rows appear, subtests nested under their parent, and the page
	// fills them from the API without a reload.
	waitJS(t, tab, "every row with a passing last run", `(() => {
		const rows = [...document.querySelectorAll("tr.case")];
		const names = rows.map(r => r.dataset.case).join(" ");
		return names === "batch batch/first batch/second flaky relay track" &&
			rows.every(r => r.dataset.outcome === "pass") &&
			document.querySelector('tr.case[data-case="batch/first"]').classList.contains("depth-1");
	})()`)
	if got := eval[string](t, tab, `document.getElementById("h-version").textContent`); got != "v1.2.3-test" {
		t.Errorf("header version %q", got)
	}
	if got := eval[string](t, tab, `document.getElementById("h-target").textContent`); got != "embedded" {
		t.Errorf("header target %q", got)
	}
	waitJS(t, tab, "the strip and quantiles to fill", `(() => {
		const r = document.querySelector('tr.case[data-case="flaky"]');
		return r.querySelectorAll(".strip .cell.pass").length >= 2 && r.textContent.includes("30 ms");
	})()`)

	// Inject the fault: flaky's outcome turns from pass to fail live.
	fault.Store(true)
	step(t, tab, "flaky to turn to fail", chromedp.WaitVisible(chromedp.CSS(`tr.case[data-case="flaky"][data-outcome="fail"]`)))
	waitJS(t, tab, "the header to count one failing case", `document.getElementById("h-failing").textContent === "1"`)
	if got := eval[string](t, tab, `document.querySelector('tr.case[data-case="track"]').dataset.outcome`); got != "pass" {
		t.Errorf("track is %q, want pass", got)
	}
	// relay: inconclusive, counted on its own, in a colour of its own, and
	// not in the pass ratio (still 100% from its passing runs).
	step(t, tab, "relay to turn inconclusive", chromedp.WaitVisible(chromedp.CSS(`tr.case[data-case="relay"][data-outcome="inconclusive"] .strip .cell.inconclusive`)))
	waitJS(t, tab, "the header to count one inconclusive case", `document.getElementById("h-inconclusive").textContent === "1"`)
	colours := eval[[]string](t, tab, `["pass", "fail", "inconclusive"].map(o =>
		getComputedStyle(document.querySelector('.badge.' + o) || document.querySelector('.count.' + o)).color)`)
	if len(colours) != 3 || colours[2] == colours[0] || colours[2] == colours[1] {
		t.Errorf("badge colours pass/fail/inconclusive = %v, want inconclusive's own", colours)
	}
	if got := eval[string](t, tab, `document.querySelector('tr.case[data-case="relay"] td[data-label="Pass 1 h"]').textContent`); got != "100.0%" {
		t.Errorf("relay's 1 h pass ratio = %q, want 100.0%% (inconclusive runs excluded)", got)
	}

	// Click the case: its runs show, failures first, with the log.
	step(t, tab, "clicking flaky", chromedp.Click(chromedp.CSS(`tr.case[data-case="flaky"] th`)))
	step(t, tab, "the runs of flaky", chromedp.WaitVisible(chromedp.CSS(`tr.detail[data-detail-for="flaky"] details.run pre.log`)))
	first := eval[string](t, tab, `document.querySelector('tr.detail[data-detail-for="flaky"] details.run').className`)
	if first != "run fail" {
		t.Errorf("first run shown has class %q, want a failure first", first)
	}
	log := eval[string](t, tab, `document.querySelector('tr.detail[data-detail-for="flaky"] details.run pre.log').textContent`)
	if !strings.Contains(log, "--- FAIL: flaky") || !strings.Contains(log, "not delivered within 2s (fault injected: drop=1)") {
		t.Errorf("log shown:\n%s\nwant the failed run's output", log)
	}
	summary := eval[string](t, tab, `document.querySelector('tr.detail[data-detail-for="flaky"] details.run summary').textContent`)
	if !regexpTrace.MatchString(summary) || !strings.Contains(summary, "duration") || !strings.Contains(summary, "start") {
		t.Errorf("run summary %q lacks trace id, start or duration", summary)
	}
	// A passing run's log with markup is shown as text, not parsed.
	waitJS(t, tab, "a passing run with markup shown as text", `[...document.querySelectorAll('tr.detail[data-detail-for="flaky"] pre.log')]
		.some(p => p.textContent.includes("delivered <b>once</b>")) && !document.querySelector("tr.detail pre.log b")`)

	shot := screenshot(t, tab, "status.png")

	// Readable on a phone: no sideways scrolling at 390 px.
	step(t, tab, "a phone-sized viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	waitJS(t, tab, "the layout to fit 390 px", `document.documentElement.scrollWidth <= window.innerWidth`)
	screenshot(t, tab, "status-phone.png")
	t.Logf("screenshots in %s", filepath.Dir(shot))
}

// screenshot saves a full-page PNG into the test's temp dir.
func screenshot(t *testing.T, tab context.Context, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(errors.Join(errors.New("saving the screenshot"), err))
	}
	return path
}

var regexpTrace = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
