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

// TestBrowserCrashIsInconclusive runs the browser suite with the real
// Chromium, started through a wrapper that records its pid, and kills the
// browser with SIGKILL the moment it asks for the demo page: a browser that
// dies mid-run says nothing about the pipeline, so the run is inconclusive,
// even with RequireChrome (which is about a missing browser).
func TestBrowserCrashIsInconclusive(t *testing.T) {
	t.Parallel()
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
	api := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/demo" {
			http.NotFound(w, r)
			return
		}
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
		<-r.Context().Done() // the page never loads: the browser is gone
	}))
	h := &tests.Harness{
		APIURL:        api.URL,
		WriteKey:      writeKey,
		Waiter:        webhook.NewRouteLogger(webhook.JSONField("messageId")),
		ChromePath:    wrapper,
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
		t.Fatalf("the browser never asked for /demo: %s", describe(r))
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
	t.Parallel()
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
