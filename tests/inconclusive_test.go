package tests_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/chrome"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// crashPage is a browser page with the suite's contract (window.orbitalLibrary,
// window.orbitalSend) whose send asks /kill, where the test kills the browser.
const crashPage = `<!doctype html><title>crash</title><script>
window.orbitalLibrary = null;
window.orbitalFallbackReason = "crash test page";
window.orbitalSend = function () {
  return fetch("/kill").then(function () { return new Promise(function () {}); });
};
</script>`

// TestBrowserCrashIsInconclusive runs the browser suite with the real
// Chromium, started through a wrapper that records its pid, on a page whose
// send makes the test kill the browser with SIGKILL: a browser that dies
// mid-run says nothing about the pipeline, so the run is inconclusive, even
// with RequireChrome (which is about a missing browser).
//
// Not parallel: Chromium's start-up would eat the CPU the timing-sensitive
// fault tests need on a small machine.
func TestBrowserCrashIsInconclusive(t *testing.T) {
	browser, err := chrome.Find("")
	if err != nil {
		if os.Getenv("ORBITAL_REQUIRE_CHROME") == "1" {
			t.Fatalf("%v and ORBITAL_REQUIRE_CHROME=1", err)
		}
		t.Skipf("%v; install chromium to run the browser crash test", err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	wrapper := filepath.Join(dir, "chrome")
	script := "#!/bin/sh\necho $$ > " + strconv.Quote(pidFile) + "\nexec " + strconv.Quote(browser) + ` "$@"` + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	killErr := make(chan error, 1)
	page := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(crashPage))
		case "/kill":
			once.Do(func() {
				b, err := os.ReadFile(pidFile)
				if err == nil {
					var pid int
					if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
						err = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				killErr <- err
			})
			<-r.Context().Done() // never answered: the browser is gone
		default:
			http.NotFound(w, r)
		}
	}))
	h := &tests.Harness{
		APIURL:        page.URL,
		WriteKey:      writeKey,
		Waiter:        webhook.NewRouteLogger(webhook.JSONField("messageId")),
		ChromePath:    wrapper,
		BrowserURL:    page.URL + "/page",
		RequireChrome: true,
		Logger:        quiet(),
	}
	r := runCases(t, h, 40*time.Second, nil, "browser")["browser"]
	select {
	case err := <-killErr:
		if err != nil {
			t.Fatalf("killing the browser: %v", err)
		}
	default:
		t.Fatalf("the page never asked for /kill: %s", describe(r))
	}
	if r.Outcome != orbital.Inconclusive || !strings.Contains(r.Error, "the browser crashed mid-run") ||
		!strings.Contains(r.Error, "signal: killed") {
		t.Errorf("got %s, want inconclusive: the browser crashed (signal: killed)", describe(r))
	}
}

// TestRelayUnreachableIsInconclusive: a delivery that does not come while
// Health reports that deliveries cannot reach this replica (cluster mode,
// the relay's Kafka down) is no verdict on the pipeline; without Health's
// error the same loss fails.
func TestRelayUnreachableIsInconclusive(t *testing.T) {
	s := newStack(t)
	s.setFaults(t, "drop=1")
	h := s.harness()
	h.Health = func() error { return errors.New("cluster: kafka unreachable") }
	for _, suite := range []string{"track", "batch"} {
		r := runCases(t, h, 2*time.Second, nil, suite)[suite]
		if r.Outcome != orbital.Inconclusive || !strings.Contains(r.Error, "cluster: kafka unreachable") {
			t.Errorf("%s: got %s, want inconclusive naming the cause", suite, describe(r))
		}
	}
	h.Health = func() error { return nil }
	if r := runCases(t, h, 2*time.Second, nil, "track")["track"]; r.Outcome != orbital.Fail {
		t.Errorf("track with a healthy relay: got %s, want fail", describe(r))
	}
}
