package tests_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// requireClients is set in CI (ORBITAL_REQUIRE_CLIENTS=1, .ci/run): a
// missing Node.js or npm package fails the compatibility test instead of
// leaving that client out.
func requireClients() bool { return os.Getenv("ORBITAL_REQUIRE_CLIENTS") == "1" }

// TestClientCompatibility runs each of Segment's client libraries in the
// README's compatibility table against the example pipeline: every event
// is delivered once, with the client's context.library and a sentAt, and
// without the write key; a wrong write key is reported through the client's
// own failure path.
func TestClientCompatibility(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	t.Run("analytics-go", func(t *testing.T) {
		r := runCases(t, s.harness(), 30*time.Second, nil, "analytics-go")["analytics-go"]
		if r.Outcome != orbital.Pass {
			t.Fatalf("analytics-go suite: %s", describe(r))
		}
		if want := "sending through github.com/segmentio/analytics-go/v3 " + tests.AnalyticsGoVersion + " (context.library analytics-go " + analytics.Version + ")"; !strings.Contains(r.Output, want) {
			t.Errorf("output does not name the client and version (%q):\n%s", want, r.Output)
		}

		id := "compat-go-" + r.TraceID
		if err := s.waiter.Sent(id); err != nil {
			t.Fatal(err)
		}
		cb := &callbacks{}
		sendGo(t, s.api.URL, writeKey, cb, analytics.Track{MessageId: id, UserId: "u", Event: "compat"})
		if ok, failed := cb.get(); ok != 1 || len(failed) != 0 {
			t.Fatalf("analytics-go callbacks: %d sent, failures %v", ok, failed)
		}
		checkDelivery(t, s.waiter, id, tests.AnalyticsGoLibrary())

		bad := &callbacks{}
		sendGo(t, s.api.URL, "wrong-key", bad, analytics.Track{MessageId: id + "-badkey", UserId: "u", Event: "compat"})
		if ok, failed := bad.get(); ok != 0 || len(failed) != 1 || !strings.Contains(failed[0], "401") {
			t.Errorf("analytics-go with a wrong key: %d sent, failures %v; want one failure naming 401", ok, failed)
		}
	})

	t.Run("analytics.js", func(t *testing.T) {
		if !chromeOnPath() && !requireClients() {
			t.Skip("no Chromium on PATH (CI sets ORBITAL_REQUIRE_CLIENTS=1, which makes this a failure)")
		}
		lib, err := tests.FindAnalyticsJS("")
		if err != nil {
			if requireClients() {
				t.Fatalf("ORBITAL_REQUIRE_CLIENTS=1: %v", err)
			}
			t.Skipf("%v: TestBrowserFallback covers the fallback", err)
		}
		if lib.Version != tests.AnalyticsJSVersion {
			t.Errorf("installed %s is %s, want %s (tests/package.json)", tests.AnalyticsJSPackage, lib.Version, tests.AnalyticsJSVersion)
		}
		h := s.harness()
		h.RequireChrome = true
		before := len(s.requests())
		r := runCases(t, h, 60*time.Second, nil, "browser")["browser"]
		if r.Outcome != orbital.Pass {
			t.Fatalf("browser suite: %s", describe(r))
		}
		// What analytics.js sent, seen by the API: its settings request, then each call on
		// its short path, preflighted, with a text/plain body (the write key in it and, in
		// 1.84.3, also as Basic auth).
		seen := strings.Join(s.requests()[before:], "\n")
		for _, want := range []string{
			"GET /v1/projects/<key>/settings",
			"OPTIONS /v1/i", "OPTIONS /v1/t", "OPTIONS /v1/p",
			"POST /v1/i text/plain", "POST /v1/t text/plain", "POST /v1/p text/plain",
		} {
			if !strings.Contains(seen, want) {
				t.Errorf("the API saw no %q from analytics.js; it saw:\n%s", want, seen)
			}
		}
		if want := "sending through analytics.js " + lib.Version + " (npm @segment/analytics-next " + lib.Version; !strings.Contains(r.Output, want) {
			t.Errorf("output does not name the library and version (%q):\n%s", want, r.Output)
		}

		h.WriteKey = "wrong-key"
		r = runCases(t, h, 30*time.Second, nil, "browser")["browser"]
		if r.Outcome != orbital.Fail || !strings.Contains(r.Error, "could not send through analytics.js") {
			t.Errorf("browser suite with a wrong write key: %s; want a failure from analytics.js (its settings are refused)", describe(r))
		}
		if strings.Contains(r.Output+r.Error, "wrong-key") {
			t.Errorf("the write key leaked into the result:\n%s", describe(r))
		}
	})

	t.Run("analytics-node", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			if requireClients() {
				t.Fatalf("ORBITAL_REQUIRE_CLIENTS=1 but no node on PATH: %v", err)
			}
			t.Skip("no node on PATH: analytics-node is checked where Node.js is installed (.ci/run installs it)")
		}
		if _, err := os.Stat(filepath.Join("node_modules", "@segment", "analytics-node", "package.json")); err != nil {
			if requireClients() {
				t.Fatalf("ORBITAL_REQUIRE_CLIENTS=1 but @segment/analytics-node is not installed in tests/node_modules (make npm): %v", err)
			}
			t.Skipf("@segment/analytics-node is not installed in tests/node_modules (make npm): %v", err)
		}
		id := "compat-node-" + time.Now().Format("150405.000000000")
		all := []string{id, id + "-identify", id + "-page"}
		for _, k := range all {
			if err := s.waiter.Sent(k); err != nil {
				t.Fatal(err)
			}
		}
		out := runNode(t, node, s.api.URL, writeKey, id)
		if out.Library != "@segment/analytics-node" || out.Version != "3.1.0" || len(out.Sent) != 3 || len(out.Failed) != 0 {
			t.Fatalf("analytics-node: %+v, want @segment/analytics-node 3.1.0 with 3 events sent", out)
		}
		t.Logf("sent through %s %s", out.Library, out.Version)
		for _, k := range all {
			checkDelivery(t, s.waiter, k, map[string]any{"name": out.Library, "version": out.Version})
		}

		bad := runNode(t, node, s.api.URL, "wrong-key", id+"-badkey")
		if len(bad.Sent) != 0 || len(bad.Failed) == 0 || !strings.Contains(strings.Join(bad.Failed, " "), "401") {
			t.Errorf("analytics-node with a wrong key: %+v, want every call failed naming 401", bad)
		}
	})
}

// TestPinnedVersions: the versions the suites name are those go.mod and
// tests/package.json (with its lock file) pin.
func TestPinnedVersions(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := tests.AnalyticsGoModule + " " + tests.AnalyticsGoVersion + "\n"; !strings.Contains(string(gomod), want) {
		t.Errorf("go.mod does not require %q", strings.TrimSpace(want))
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct {
			Dependencies map[string]string `json:"dependencies"`
			Packages     map[string]struct {
				Version string `json:"version"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(b, &pkg); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got := pkg.Dependencies[tests.AnalyticsJSPackage]
		if f == "package-lock.json" {
			got = pkg.Packages["node_modules/"+tests.AnalyticsJSPackage].Version
		}
		if got != tests.AnalyticsJSVersion {
			t.Errorf("%s pins %s %q, want exactly %s", f, tests.AnalyticsJSPackage, got, tests.AnalyticsJSVersion)
		}
	}
}

// TestBrowserFallback: without the installed analytics.js the browser
// suite sends through the example pipeline's snippet, says so, and passes.
func TestBrowserFallback(t *testing.T) {
	t.Parallel()
	if !chromeOnPath() && os.Getenv("ORBITAL_REQUIRE_CHROME") != "1" {
		t.Skip("no Chromium on PATH (CI sets ORBITAL_REQUIRE_CHROME=1, which makes this a failure)")
	}
	s := newStack(t)
	h := s.harness()
	h.RequireChrome = true
	h.AnalyticsJSDir = t.TempDir() // nothing installed there
	r := runCases(t, h, 60*time.Second, nil, "browser")["browser"]
	if r.Outcome != orbital.Pass {
		t.Fatalf("browser suite with the fallback snippet: %s", describe(r))
	}
	if !strings.Contains(r.Output, "FALLBACK: the real analytics.js is not installed") {
		t.Errorf("output does not say it fell back:\n%s", r.Output)
	}
}

// callbacks records analytics-go's callbacks.
type callbacks struct {
	mu     sync.Mutex
	ok     int
	failed []string
}

func (c *callbacks) Success(analytics.Message) { c.mu.Lock(); c.ok++; c.mu.Unlock() }
func (c *callbacks) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	c.failed = append(c.failed, err.Error())
	c.mu.Unlock()
}
func (c *callbacks) get() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok, append([]string(nil), c.failed...)
}

type discardLogger struct{}

func (discardLogger) Logf(string, ...any)   {}
func (discardLogger) Errorf(string, ...any) {}

// sendGo sends msg with analytics-go and closes the client, which returns
// once the request finished (a failed one is given up at once).
func sendGo(t *testing.T, api, key string, cb analytics.Callback, msg analytics.Message) {
	t.Helper()
	c, err := analytics.NewWithConfig(key, analytics.Config{
		Endpoint: api, BatchSize: 1, Callback: cb, Logger: discardLogger{},
		RetryAfter: func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(msg); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkDelivery waits for id's delivery and checks what every client's
// event must carry after the pipeline: context.library as the client set
// it, a sentAt, and no writeKey.
func checkDelivery(t *testing.T, w *webhook.RouteLogger, id string, library map[string]any) {
	t.Helper()
	if err := w.Sent(id); err != nil && !errors.Is(err, webhook.ErrAlreadySent) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := w.Wait(ctx, id)
	if err != nil {
		t.Fatalf("%s not delivered: %v", id, err)
	}
	var ev struct {
		SentAt  *string `json:"sentAt"`
		Context struct {
			Library map[string]any `json:"library"`
		} `json:"context"`
		WriteKey *string `json:"writeKey"`
	}
	if err := json.Unmarshal([]byte(req.Body), &ev); err != nil {
		t.Fatalf("%s: delivery is not JSON: %v", id, err)
	}
	if got, _ := json.Marshal(ev.Context.Library); !bytes.Equal(got, mustMarshal(library)) {
		t.Errorf("%s: context.library = %s, want %s", id, got, mustMarshal(library))
	}
	if ev.SentAt == nil {
		t.Errorf("%s: no sentAt in %s", id, req.Body)
	} else if _, err := time.Parse(time.RFC3339Nano, *ev.SentAt); err != nil {
		t.Errorf("%s: sentAt %q: %v", id, *ev.SentAt, err)
	}
	if ev.WriteKey != nil {
		t.Errorf("%s: the delivery carries the write key", id)
	}
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

type nodeResult struct {
	Library string   `json:"library"`
	Version string   `json:"version"`
	Sent    []string `json:"sent"`
	Failed  []string `json:"failed"`
}

// runNode runs testdata/analytics-node.mjs against api.
func runNode(t *testing.T, node, api, key, id string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "analytics-node.mjs"))
	cmd.Env = append(os.Environ(), "ORBITAL_API="+api, "ORBITAL_WRITE_KEY="+key, "ORBITAL_MESSAGE_ID="+id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running node: %v\n%s", err, stderr.String())
	}
	var r nodeResult
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); jerr != nil {
		t.Fatalf("node printed %q (stderr %q, err %v): %v", stdout.String(), stderr.String(), err, jerr)
	}
	return r
}
