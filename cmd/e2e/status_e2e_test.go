// Full-stack browser test of the status page: `e2e serve` on the embedded default (in-process
// Kafka + example pipeline) on 127.0.0.1:0, driven in headless Chromium. It checks the case rows
// appear, injects drop=1 into the embedded pipeline through the app's embeddedPipeline hook,
// waits for track to turn from pass to fail without a reload, clicks it and reads its log
// ("not delivered"), saves a screenshot into t.TempDir(), and checks POST /api/cases/track/run
// (401 without the token, a JSON Result with it). Without Chromium it is skipped unless
// ORBITAL_REQUIRE_CHROME=1 (CI sets it), the rule the browser suite uses.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/chrome"
)

func TestStatusPageFullStackInBrowser(t *testing.T) {
	browser, err := chrome.Find("")
	if err != nil {
		if os.Getenv("ORBITAL_REQUIRE_CHROME") == "1" {
			t.Fatalf("%v and ORBITAL_REQUIRE_CHROME=1", err)
		}
		t.Skipf("%v; install chromium to run the status page browser test", err)
	}

	// e2e serve on the embedded default.
	const token = "test-admin-token"
	var pl atomic.Pointer[pipeline.Pipeline]
	srv := startServe(t, &app{embeddedPipeline: func(p *pipeline.Pipeline) { pl.Store(p) }},
		"serve", "--addr", "127.0.0.1:0", "--run", "^(track|reject)$",
		"--case-period", "track=500ms,reject=500ms", "--case-timeout", "track=3s",
		"--admin-token", token, "--history", "100", "--drain", "5s")
	base, stderr := srv.base, srv.stderr

	// Headless Chromium with a fresh profile.
	dir := t.TempDir()
	allocCtx, stop := chromedp.NewExecAllocator(context.Background(), chrome.Options(browser, filepath.Join(dir, "profile"))...)
	t.Cleanup(stop) // registered after TempDir: the browser exits before its profile is removed
	tab, closeTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(closeTab)
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil { // no timeout on the first call
		t.Fatalf("starting %s: %v", browser, err)
	}
	// waitJS polls inside one Runtime.evaluate, which runs in the page's current document:
	// chromedp.Poll names the execution context chromedp last recorded, which right after a
	// Navigate can still be the previous document's ("Cannot find context with specified id").
	waitJS := func(what, expr string, limit time.Duration) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, limit)
		defer cancel()
		if _, err := chromedp.Run(c, chromedp.Evaluate[bool](chrome.PollJS(expr, 100*time.Millisecond, limit), chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("waiting for %s: %v\nstderr:\n%s", what, err, stderr.String())
		}
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	do("loading the status page", chromedp.Navigate(base+"/"))
	// The case rows appear, and track passes on the healthy pipeline.
	waitJS("the rows of track and reject, track passing", `(() => {
		const names = [...document.querySelectorAll("tr.case:not(.depth-1)")].map(r => r.dataset.case);
		const track = document.querySelector('tr.case[data-case="track"]');
		return names.includes("track") && names.includes("reject") && track.dataset.outcome === "pass";
	})()`, 60*time.Second)
	waitJS("the header to show the embedded target", `document.getElementById("h-target").textContent === "embedded"`, 10*time.Second)

	// Inject the fault: every event is lost after ingest.
	p := pl.Load()
	if p == nil {
		t.Fatal("serve did not hand over its embedded pipeline")
	}
	p.SetFaults(pipeline.Faults{Drop: 1})
	waitJS("track to turn from pass to fail", `document.querySelector('tr.case[data-case="track"]').dataset.outcome === "fail"`, 30*time.Second)
	waitJS("the header to count a failing case", `Number(document.getElementById("h-failing").textContent) >= 1`, 10*time.Second)

	// Click the case: its failed run's log shows first.
	do("clicking track", chromedp.Click(chromedp.CSS(`tr.case[data-case="track"] th`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.detail[data-detail-for="track"] details.run.fail pre.log`)))
	waitJS("the failed run's log", `(() => {
		const first = document.querySelector('tr.detail[data-detail-for="track"] details.run');
		const log = first && first.querySelector("pre.log");
		return first.classList.contains("fail") && log.textContent.includes("--- FAIL: track") && log.textContent.includes("not delivered");
	})()`, 10*time.Second)

	c, cancelShot := context.WithTimeout(tab, 30*time.Second)
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	cancelShot()
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// The manual-run API on the same service: 401 without the token, a JSON Result with it.
	post := func(auth string) (int, []byte) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/api/cases/track/run", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, b := post(""); code != http.StatusUnauthorized {
		t.Errorf("POST without token: %d %s, want 401", code, b)
	}
	// A manual run shares the scheduler's overlap guard: while a scheduled run of track is in
	// flight the answer is 409, and the run goes through once that run is over.
	code, b := post("Bearer " + token)
	for deadline := time.Now().Add(30 * time.Second); code == http.StatusConflict && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling interval of an external signal
		code, b = post("Bearer " + token)
	}
	var raw map[string]any
	if code != http.StatusOK || json.Unmarshal(b, &raw) != nil {
		t.Fatalf("POST with token: %d %s", code, b)
	}
	if out, _ := raw["output"].(string); raw["case"] != "track" || raw["outcome"] != "fail" || !strings.Contains(out, "not delivered") {
		t.Errorf("manual run under drop=1: %s", b)
	}
}
