package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
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

// pageResult is what the page's orbitalSend resolves with.
type pageResult struct {
	Library  string   `json:"library"`
	Version  string   `json:"version"`
	Fallback bool     `json:"fallback"`
	Sent     []string `json:"sent"`
	Failed   []string `json:"failed"`
}

// pageLibrary is the page's window.orbitalLibrary: the installed
// analytics.js it serves, or null (no Package) when it falls back.
type pageLibrary struct {
	Package string `json:"package"`
	Version string `json:"version"`
}

// browser starts a headless Chromium of its own (one per run, with a fresh
// profile in the run's TempDir), loads the suite's page (BrowserPage:
// at the Harness's BrowserURL, else served for the run on a loopback port)
// and has it send the run's events through the real analytics.js
// (@segment/analytics-next): identify, track and page, each with a
// messageId of the run. analytics.js first fetches the source settings from
// CDNURL, then sends to the API those settings name. Each event must come
// back once with analytics.js's context.library. Without the installed
// library the page falls back to the example pipeline's snippet (track and
// page only), and the run says so. Without a Chrome binary the run is
// skipped, or fails when RequireChrome is set; a browser that fails to start
// (or to load the page) fails the run; one that crashes once the page is up
// (it exits while nobody asked it to: out of memory, a signal) makes the run
// inconclusive, since that says nothing about the pipeline.
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
	pageURL := s.browserURL
	if pageURL == "" {
		pageURL = s.servePage(o)
	}

	// The profile lives in the run's TempDir, removed after the cleanups
	// (stopBrowser among them), with retries while Chromium's helpers finish.
	allocCtx, stopBrowser := chromedp.NewExecAllocator(ctx, chrome.Options(browserPath, o.TempDir())...)
	o.Cleanup(stopBrowser) // cancels and waits for the browser to exit
	tab, closeTab := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(string, ...any) {}),
		chromedp.WithErrorf(func(format string, args ...any) {
			s.log.Debug("chromedp: "+s.redact(fmt.Sprintf(format, args...)), "case", o.Name(), "trace_id", o.TraceID())
		}),
	)
	o.Cleanup(closeTab)

	if err := chromedp.Do(tab, chromedp.Navigate(pageURL)); err != nil {
		o.Fatalf("messageId %s: starting %s and loading %s: %v", id, browserPath, redact.URL(pageURL), s.redactErr(err))
	}
	lib, err := chromedp.Run(tab, chromedp.Evaluate[*pageLibrary](`window.orbitalLibrary`))
	if err != nil {
		crashed(o, id, err)
		o.Fatalf("messageId %s: reading which analytics.js %s serves: %v", id, redact.URL(pageURL), s.redactErr(err))
	}
	msgIDs := map[string]string{"identify": id + "-identify", "track": id, "page": id + "-page"}
	props := map[string]any{"suite": "browser", "case": o.Name(), "traceId": o.TraceID()}
	traits := map[string]any{"orbital": true, "case": o.Name()}
	const pageName = "orbital browser"
	want := []expected{
		{id: msgIDs["track"], fields: map[string]any{"type": "track", "event": "orbital browser", "messageId": msgIDs["track"], "userId": userID, "properties": props}},
		{id: msgIDs["page"], fields: map[string]any{"type": "page", "name": pageName, "messageId": msgIDs["page"], "userId": userID}},
	}
	if lib != nil && lib.Package != "" {
		o.Logf("sending through analytics.js %s (npm %s %s, served from %s)", lib.Version, lib.Package, lib.Version, redact.URL(pageURL))
		want = append([]expected{{id: msgIDs["identify"], fields: map[string]any{"type": "identify", "messageId": msgIDs["identify"], "userId": userID, "traits": traits}}}, want...)
		library := AnalyticsJS{Version: lib.Version}.Library()
		for i := range want {
			want[i].library = library
		}
	} else {
		reason, _ := chromedp.Run(tab, chromedp.Evaluate[string](`window.orbitalFallbackReason || ""`))
		o.Logf("FALLBACK: the real analytics.js is not installed (%s); sending through the example pipeline's small snippet (%s/analytics.js) instead: run `make npm` to test the real one",
			s.redact(reason), redact.URL(s.api))
		for i := range want {
			want[i].library = map[string]any{"name": "orbital-example-analytics.js", "version": "1.0.0"}
		}
	}
	tr := s.follow(o, ids(want)...)

	cfg, err := json.Marshal(map[string]any{
		"writeKey": s.writeKey, "cdnURL": s.cdn, "apiURL": s.api,
		"userId": userID, "traits": traits, "event": "orbital browser", "properties": props,
		"pageName": pageName, "ids": msgIDs,
	})
	if err != nil {
		o.Fatalf("messageId %s: encoding the page's arguments: %v", id, err)
	}
	s.traceRequests(tab, o, tr, id, ids(want))
	sent := tr.Sending()
	res, err := chromedp.Run(tab, chromedp.Evaluate[pageResult]("orbitalSend("+string(cfg)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		crashed(o, id, err)
		o.Fatalf("messageId %s: the page could not send through analytics.js within %s: %v", id, since(sent), s.redactErr(err))
	}
	for _, f := range res.Failed {
		o.Errorf("messageId %s: %s reported a failed delivery: %s", id, res.Library, s.redact(f))
	}
	if len(res.Failed) > 0 {
		o.FailNow()
	}
	s.deliveredOnce(ctx, o, tr, res.Library+" events", want)
}

// servePage serves the Harness's BrowserPage on a loopback port until the
// run ends and returns its URL.
func (s *suites) servePage(o *orbital.O) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		o.Fatalf("serving the browser page: %v", err)
	}
	srv := &http.Server{Handler: s.page, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	o.Cleanup(func() { _ = srv.Close(); <-done })
	return "http://" + ln.Addr().String() + BrowserPagePath
}

// crashed ends the run as inconclusive when err says the browser process
// died while nobody had asked it to stop (chromedp then wraps the process's
// *exec.ExitError: a crash, the kernel's OOM killer): the browser is the
// prober's, not the pipeline's. Other errors return.
func crashed(o *orbital.O, id string, err error) {
	o.Helper()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		o.Inconclusivef("messageId %s: the browser crashed mid-run (%v); no verdict on the pipeline", id, exit)
	}
}

// addHeader makes every request of the tab whose URL matches pattern (the
// Fetch domain's wildcards) carry the header name: value.
func addHeader(tab context.Context, pattern, name, value string) error {
	err := chromedp.Listen(tab, func(ev any) {
		paused, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		headers := []*fetch.HeaderEntry{{Name: name, Value: value}}
		if paused.Request != nil {
			for k, v := range paused.Request.Headers {
				if !strings.EqualFold(k, name) {
					headers = append(headers, &fetch.HeaderEntry{Name: k, Value: fmt.Sprint(v)})
				}
			}
		}
		// A listener must not send commands itself (it would wait on its own loop).
		go func() {
			_, _ = chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: paused.RequestID, Headers: headers})
		}()
	})
	if err != nil {
		return err
	}
	_, err = chromedp.Call(tab, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern, RequestStage: fetch.RequestStageRequest}}})
	return err
}

// watchAPI records in tr the API's answer to each request the page sends to
// it carrying some of ids (its POST body holds their messageIds), as
// Chromium's network events report them.
func (s *suites) watchAPI(tab context.Context, tr *Trail, ids []string) error {
	type sent struct {
		start time.Time
		ids   []string
	}
	var mu sync.Mutex
	inFlight := map[network.RequestID]sent{}
	err := chromedp.Listen(tab, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			req := ev.Request
			if req == nil || req.Method != http.MethodPost || !strings.HasPrefix(req.URL, s.api+"/") {
				return
			}
			var body []byte
			for _, e := range req.PostDataEntries {
				body = append(body, e.Bytes...)
			}
			if carried := idsIn(body, ids); len(carried) > 0 {
				mu.Lock()
				inFlight[ev.RequestID] = sent{start: time.Now(), ids: carried}
				mu.Unlock()
			}
		case *network.EventResponseReceived:
			mu.Lock()
			r, ok := inFlight[ev.RequestID]
			delete(inFlight, ev.RequestID)
			mu.Unlock()
			if ok && ev.Response != nil {
				tr.Answered(r.start, int(ev.Response.Status), r.ids...)
			}
		}
	})
	if err != nil {
		return err
	}
	_, err = chromedp.Call(tab, network.Enable, network.EnableParams{})
	return err
}

// traceRequests makes every request the page sends to the API from now on
// carry the run's traceparent, and records the API's answers to the page's
// requests carrying ids in tr. The header is added by Chromium's request
// interception (the Fetch domain), beneath the page: the page's own requests
// stay CORS-simple (no preflight), and no other origin (a CDN, a third
// party) ever sees it.
func (s *suites) traceRequests(tab context.Context, o *orbital.O, tr *Trail, id string, ids []string) {
	o.Helper()
	if err := s.watchAPI(tab, tr, ids); err != nil {
		crashed(o, id, err)
		o.Fatalf("messageId %s: watching the page's requests: %v", id, s.redactErr(err))
	}
	if err := addHeader(tab, s.api+"/*", TraceparentHeader, orbital.Traceparent(o.TraceID())); err != nil {
		crashed(o, id, err)
		o.Fatalf("messageId %s: setting the page's traceparent: %v", id, s.redactErr(err))
	}
}
