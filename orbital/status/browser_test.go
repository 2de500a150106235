package status_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	f := newFixture(t, status.Config{Version: "v1.2.3-test", Target: "embedded", TraceURL: "https://tracing.example/trace/{trace_id}"}, cases...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Service.Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)

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

	// The fault opened an incident: the header says how long flaky has been
	// failing, the list across cases shows it ongoing, as the API does.
	waitJS(t, tab, "the header to say flaky is failing", `/^flaky failing for \d+ s$/.test(document.getElementById("h-failing-for").textContent) &&
		!document.getElementById("h-failing-for").hidden`)
	waitJS(t, tab, "an ongoing incident of flaky in the list", `!!document.querySelector('#all-incidents li.incident[data-case="flaky"][data-ongoing="true"]')`)
	var incs []status.Incident
	getJSON(t, f.srv.URL+"/api/cases/flaky/incidents", http.StatusOK, &incs)
	if len(incs) != 1 || !incs[0].Ongoing || !strings.Contains(incs[0].FirstError, "fault injected") {
		t.Fatalf("flaky's incidents from the API = %+v, want one ongoing with the fault's error", incs)
	}
	if got := eval[string](t, tab, `document.querySelector('#all-incidents li.incident[data-case="flaky"]').dataset.traceId`); got != incs[0].TraceID {
		t.Errorf("page shows the incident's first failed run %q, the API %q", got, incs[0].TraceID)
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
	// Each run links to its trace in the tracing UI (Config.TraceURL).
	traceID := eval[string](t, tab, `document.querySelector('tr.detail[data-detail-for="flaky"] details.run').dataset.traceId`)
	href := eval[string](t, tab, `(document.querySelector('tr.detail[data-detail-for="flaky"] details.run summary a.trace-link') || {}).href || ""`)
	if want := "https://tracing.example/trace/" + orbital.W3CTraceID(traceID); href != want {
		t.Errorf("run %s links to %q, want %q", traceID, href, want)
	}
	// A passing run's log with markup is shown as text, not parsed.
	waitJS(t, tab, "a passing run with markup shown as text", `[...document.querySelectorAll('tr.detail[data-detail-for="flaky"] pre.log')]
		.some(p => p.textContent.includes("delivered <b>once</b>")) && !document.querySelector("tr.detail pre.log b")`)

	// Its detail shows the incident, a 24 h uptime bar and two charts.
	waitJS(t, tab, "flaky's detail with incident, bar and charts", `(() => {
		const d = document.querySelector('tr.detail[data-detail-for="flaky"]');
		return d.querySelector('.case-incidents li.incident[data-ongoing="true"]') &&
			d.querySelectorAll(".uptime-bar rect.ub").length === 96 && d.querySelectorAll("svg.chart-svg").length === 2;
	})()`)
	shot := screenshot(t, tab, "status.png")

	// The fault ends: flaky passes again and its incident closes, on the page
	// and in the API; relay's inconclusive runs opened none.
	fault.Store(false)
	waitJS(t, tab, "flaky's incident to close", `(() => {
		const li = document.querySelector('#all-incidents li.incident[data-case="flaky"]');
		return li && li.dataset.ongoing === "false" && document.getElementById("h-failing-for").hidden &&
			!!document.querySelector('tr.detail[data-detail-for="flaky"] .case-incidents li.incident[data-ongoing="false"]');
	})()`)
	getJSON(t, f.srv.URL+"/api/incidents", http.StatusOK, &incs)
	if len(incs) != 1 || incs[0].Case != "flaky" || incs[0].Ongoing || incs[0].End == nil || incs[0].FailedRuns < 1 {
		t.Errorf("incidents from the API after the fault = %+v, want flaky's, closed", incs)
	}

	// Stop the service so the history holds still, open every case and
	// compare each bar and chart with the JSON API.
	stop()
	// And a case that only ever ran inconclusive: its bar is amber, not grey.
	f.st.Report(orbital.Result{Case: "probe", TraceID: "probe-1", Start: time.Now(), Outcome: orbital.Inconclusive, Error: "prober's own trouble"})
	waitJS(t, tab, "the probe row", `!!document.querySelector('tr.case[data-case="probe"]')`)
	eval[bool](t, tab, `[...document.querySelectorAll('tr.case[aria-expanded="false"]')].forEach(r => r.click()) || true`)
	eval[bool](t, tab, vizCheckJS)
	ctx, cancelWait := context.WithTimeout(tab, 20*time.Second)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](chrome.PollJS(`(window.__vizRun(), window.__vizOK === true)`, 100*time.Millisecond, 15*time.Second), chromedp.EvalAwaitPromise))
	cancelWait()
	if err != nil {
		t.Fatalf("bars and charts of every case matching the API: %v; last mismatches: %s", err, eval[string](t, tab, `String(window.__vizBad)`))
	}
	if n := eval[int](t, tab, `document.querySelectorAll("tr.detail .uptime-bar").length`); n != 7 {
		t.Errorf("%d uptime bars, want one per case (7)", n)
	}
	// A tap on a bar (no hover on a phone) shows its ratio and counts.
	tapped := eval[[]string](t, tab, `(() => {
		const d = document.querySelector('tr.detail[data-detail-for="flaky"]');
		const r = [...d.querySelectorAll("rect.ub")].pop();
		r.dispatchEvent(new MouseEvent("click", {bubbles: true}));
		return [d.querySelector(".uptime-note").textContent, r.querySelector("title").textContent];
	})()`)
	if len(tapped) != 2 || tapped[0] != tapped[1] || !strings.Contains(tapped[0], "% passed") || !strings.Contains(tapped[0], "failed") {
		t.Errorf("tapping flaky's current quarter shows %q, want its title with the ratio", tapped)
	}
	if c := eval[string](t, tab, `[...document.querySelectorAll('tr.detail[data-detail-for="probe"] rect.ub')].pop().getAttribute("class")`); c != "ub u-incon" {
		t.Errorf("probe's current quarter is drawn %q, want amber (ub u-incon)", c)
	}
	// track measured its latency: its hour chart draws it.
	if d := eval[string](t, tab, `document.querySelector('tr.detail[data-detail-for="track"] .chart path[data-series="latency_p50"]').getAttribute("d")`); !strings.HasPrefix(d, "M") {
		t.Errorf("track's latency p50 line is empty")
	}

	// Readable on a phone: no sideways scrolling at 390 px.
	step(t, tab, "a phone-sized viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	waitJS(t, tab, "the layout to fit 390 px", `document.documentElement.scrollWidth <= window.innerWidth`)
	screenshot(t, tab, "status-phone.png")
	if w := eval[float64](t, tab, `document.querySelector('tr.detail[data-detail-for="track"] svg.chart-svg').getBoundingClientRect().width`); w < 200 || w > 390 {
		t.Errorf("track's chart is %.0f px wide on a 390 px phone", w)
	}
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

// vizCheckJS defines window.__vizRun: it fetches every case's timeline from
// the API and compares it with the uptime bar and the two charts drawn in
// the case's detail, leaving the verdict in window.__vizOK (mismatches in
// window.__vizBad). The page redraws every 2 s, so the caller polls it.
const vizCheckJS = `(() => {
	window.__vizRun = () => {
		if (window.__vizBusy) return;
		window.__vizBusy = true;
		const names = [...document.querySelectorAll("tr.case")].map(r => r.dataset.case);
		const url = n => "api/cases/" + n.split("/").map(encodeURIComponent).join("/") + "/timeline";
		const cls = q => q.ratio === null ? (q.inconclusive > 0 ? "u-incon" : "u-none") :
			q.ratio >= 1 ? "u-up" : q.ratio >= 0.9 ? "u-warn" : q.ratio > 0 ? "u-bad" : "u-down";
		Promise.all(names.map(n => fetch(url(n)).then(r => r.json()))).then(tls => {
			const bad = [];
			tls.forEach((tl, i) => {
				const n = names[i];
				const d = document.querySelector('tr.detail[data-detail-for="' + n + '"]');
				if (!d) { bad.push(n + ": no detail"); return; }
				const rects = [...d.querySelectorAll(".uptime-bar rect.ub")];
				if (rects.length !== 96) bad.push(n + ": " + rects.length + " bars");
				rects.forEach((r, j) => {
					const q = tl.quarters[j];
					const want = q.ratio === null ? "" : String(q.ratio);
					if (r.dataset.ratio !== want || !r.classList.contains(cls(q)) || r.dataset.start !== q.start ||
						!r.querySelector("title") || !r.querySelector("title").textContent) {
						bad.push(n + ": bar " + j + " ratio " + r.dataset.ratio + " class " + r.getAttribute("class") + ", API " + want);
					}
				});
				const charts = [...d.querySelectorAll(".chart")];
				if (charts.length !== 2) { bad.push(n + ": " + charts.length + " charts"); return; }
				[tl.minutes, tl.quarters].forEach((bs, k) => {
					["latency_p50", "latency_p99", "duration_p50", "duration_p99"].forEach(key => {
						const p = charts[k].querySelector('path[data-series="' + key + '"]');
						const want = bs.map(b => b[key] === null ? "" : String(b[key])).join(",");
						const nv = bs.filter(b => b[key] !== null).length;
						const pts = (p.getAttribute("d").match(/[ML]/g) || []).length;
						if (p.dataset.values !== want || pts !== nv) {
							bad.push(n + ": chart " + k + " " + key + " drew " + pts + " points of " + nv);
						}
					});
				});
			});
			window.__vizOK = bad.length === 0;
			window.__vizBad = bad.slice(0, 5).join("; ");
		}).finally(() => { window.__vizBusy = false; });
	};
	return true;
})()`

var regexpTrace = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
