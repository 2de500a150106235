package main

import (
	"encoding/xml"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
)

const remoteToken = "gate-token-0123456789"

// remoteGate runs `e2e gate --server base` with args and returns what it printed and its
// JUnit report (empty when it wrote none).
func remoteGate(t *testing.T, base string, args ...string) (result, junit.Testsuites) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "junit.xml")
	args = append([]string{"gate", "--server", base, "--junit", path, "--log-level", "warn"}, args...)
	r := runE2E(t, 2*time.Minute, args...)
	var suites junit.Testsuites
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		if err := xml.Unmarshal(b, &suites); err != nil {
			t.Fatalf("junit report does not parse: %v\n%s", err, b)
		}
	}
	return r, suites
}

// testcases returns the JUnit test cases by name, and how many failed.
func testcases(s junit.Testsuites) (byName map[string][]junit.Testcase, failed int) {
	byName = map[string][]junit.Testcase{}
	for _, suite := range s.Suites {
		for _, tc := range suite.Testcases {
			byName[tc.Name] = append(byName[tc.Name], tc)
			if tc.Failure != nil {
				failed++
			}
		}
	}
	return byName, failed
}

// A remote gate against a healthy service: the cases run there, and the reports are a
// local gate's. Then --since reads the history it left.
func TestRemoteGateHealthy(t *testing.T) {
	t.Parallel()
	// track's short period keeps it busy with scheduled runs: the gate waits for them.
	srv := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^(track|reject)$",
		"--admin-token", remoteToken, "--case-period", "track=300ms", "--log-level", "warn")

	// Before any run: a window of 1ns holds no run, and says so.
	r, suites := remoteGate(t, srv.base, "--since", "1ns", "--run", "^reject$")
	if r.code != exitFail || !strings.Contains(r.stdout, "no run in the last 1ns") {
		t.Fatalf("--since 1ns: exit %d, want 1 saying no run\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if cases, failed := testcases(suites); failed != 1 || len(cases["reject"]) != 1 {
		t.Errorf("--since 1ns: JUnit %v, want one failed reject", cases)
	}

	r, suites = remoteGate(t, srv.base, "--admin-token", remoteToken, "--run", "^(track|reject)$", "--count", "2")
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := lastLine(r.stdout); got != "4 passed, 0 failed" {
		t.Errorf("last line %q, want \"4 passed, 0 failed\"", got)
	}
	for _, want := range []string{"--- PASS: track", "--- PASS: reject", "PASS\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q (each run's log, go test style)\n%s", want, r.stdout)
		}
	}
	cases, failed := testcases(suites)
	if failed != 0 || len(cases["track"]) != 2 || len(cases["reject"]) != 2 {
		t.Errorf("JUnit %v (%d failed), want track and reject twice each, none failed", cases, failed)
	}
	for name, tcs := range cases {
		for _, tc := range tcs {
			if tc.SystemOut == nil || !strings.Contains(tc.SystemOut.Data, "--- PASS: "+name) {
				t.Errorf("JUnit %s has no run log: %+v", name, tc.SystemOut)
			}
		}
	}

	r, suites = remoteGate(t, srv.base, "--since", "10m", "--run", "^(track|reject)$")
	if r.code != exitOK {
		t.Fatalf("--since 10m: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if cases, failed := testcases(suites); failed != 0 || len(cases["reject"]) < 2 || len(cases["track"]) < 2 {
		t.Errorf("--since 10m: JUnit has %d track and %d reject runs (%d failed), want >= 2 each, none failed",
			len(cases["track"]), len(cases["reject"]), failed)
	}
}

// A remote gate against a service whose pipeline drops everything fails, naming the case;
// and so does --since over the window of its failures.
func TestRemoteGateFaults(t *testing.T) {
	t.Parallel()
	srv := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^(track|reject)$",
		"--admin-token", remoteToken, "--faults", "drop=1", "--timeout", "3s", "--log-level", "warn")

	r, suites := remoteGate(t, srv.base, "--admin-token", remoteToken, "--run", "^track$", "--timeout", "3s")
	if r.code != exitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "--- FAIL: track [trace_id ") || lastLine(r.stdout) != "0 passed, 1 failed" {
		t.Errorf("stdout does not name the failed case with the final line\n%s", r.stdout)
	}
	if cases, failed := testcases(suites); failed != 1 || cases["track"][0].Failure == nil ||
		!strings.Contains(cases["track"][0].Failure.Message, "not delivered") {
		t.Errorf("JUnit %+v, want track failed, not delivered", cases)
	}

	r, suites = remoteGate(t, srv.base, "--since", "10m", "--run", "^track$")
	if r.code != exitFail || !strings.Contains(r.stdout, "--- FAIL: track") {
		t.Fatalf("--since: exit %d, want 1 naming track\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, failed := testcases(suites); failed < 1 {
		t.Errorf("--since: JUnit has no failed test case")
	}
}

// An unreachable service, a wrong token and a service without manual runs are exit 2
// with a message saying which, never a pass; the token never appears in the output.
func TestRemoteGateUnusable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	srv := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^reject$",
		"--admin-token", remoteToken, "--log-level", "warn")
	noToken := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^reject$", "--log-level", "warn")

	tests := []struct {
		name, base, want string
		args             []string
	}{
		{"unreachable", closed, "cannot reach the service", []string{"--admin-token", remoteToken}},
		{"unreachable --since", closed, "cannot reach the service", []string{"--since", "10m"}},
		{"wrong token", srv.base, "refused the admin token", []string{"--admin-token", "wrong-secret-token"}},
		{"manual runs disabled", noToken.base, "does not accept manual runs", []string{"--admin-token", remoteToken}},
		{"no token", srv.base, "--admin-token (ORBITAL_ADMIN_TOKEN) is required", nil},
		{"not orbital", "http://" + notOrbital(t), "not orbital's API", []string{"--since", "10m"}},
		{"no case selected", srv.base, "no case selected", []string{"--admin-token", remoteToken, "--run", "^nope$"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := remoteGate(t, tt.base, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, want 2 saying %q\nstdout:\n%s\nstderr:\n%s", r.code, tt.want, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "wrong-secret-token") || strings.Contains(r.stdout+r.stderr, remoteToken) {
				t.Error("the token appears in the output")
			}
		})
	}
}

// notOrbital is a server that answers 200 with HTML, as a wrong --server URL might.
func notOrbital(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// A case busy with another run (409) is tried again until it is free, then run.
func TestRemoteGateWaitsForBusyCase(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/cases":
			_, _ = w.Write([]byte(`[{"name":"track","depth":0,"registered":true,"timeout_seconds":5}]`))
		case r.Method == http.MethodPost && r.URL.Path == "/api/cases/track/run":
			if r.Header.Get("Authorization") != "Bearer "+remoteToken {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if posts.Add(1) < 3 {
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"error":"busy"}`))
				return
			}
			_, _ = w.Write([]byte(`{"case":"track","trace_id":"t-1","start":"2026-01-01T00:00:00Z","duration_seconds":0.25,
				"outcome":"pass","output":"--- PASS: track (0.25s)\n    [t-1] track.go:1: delivered\n",
				"measures":{"delivery.latency":0.1},
				"subtests":[{"case":"track/sub","parent":"track","outcome":"pass","output":"    --- PASS: track/sub (0.00s)\n"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer svc.Close()
	r, suites := remoteGate(t, svc.URL, "--admin-token", remoteToken, "--json")
	if r.code != exitOK || posts.Load() != 3 {
		t.Fatalf("exit %d after %d POSTs, want 0 after 3\nstdout:\n%s\nstderr:\n%s", r.code, posts.Load(), r.stdout, r.stderr)
	}
	for _, want := range []string{`"Action":"pass","Package":"e2e","Test":"track/sub"`, `"Test":"track","Elapsed":0.25,"TraceID":"t-1"`,
		`"Measures":{"delivery.latency":0.1}`, `"Output":"1 passed, 0 failed\n"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("json events lack %s\n%s", want, r.stdout)
		}
	}
	if cases, _ := testcases(suites); len(cases["track"]) != 1 || cases["track"][0].Time != "0.250" {
		t.Errorf("JUnit %+v, want track in 0.250s", cases)
	}
}

// Flags that do not go together with --server (or --since without it) are usage errors.
func TestRemoteGateUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"gate", "--since", "10m"}, "--since reads a running service's history: it needs --server"},
		{[]string{"gate", "--server", "http://127.0.0.1:1", "--since", "-1m"}, "--since must be positive"},
		{[]string{"gate", "--server", "http://127.0.0.1:1", "--since", "10000h"}, "at most"},
		{[]string{"gate", "--server", "http://127.0.0.1:1", "--admin-token", "x", "--faults", "drop=1"}, "--faults and --api"},
		{[]string{"gate", "--server", "ftp://example.com", "--admin-token", "x"}, "invalid --server"},
		{[]string{"gate", "--server", "http://user:pw-secret@example.com", "--since", "1m"}, "user info is not allowed"},
	} {
		r := runE2E(t, time.Minute, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "pw-secret") {
			t.Errorf("e2e %s: exit %d, stderr %q; want 2 saying %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// Against the real service: a case with a run in flight there (409) is waited for, then run
// and reported, not an error.
func TestRemoteGateWaitsForRunInFlight(t *testing.T) {
	t.Parallel()
	// Every delivery takes 2s: a run in flight stays in flight while the gate starts.
	srv := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^track$",
		"--admin-token", remoteToken, "--faults", "delay=2s", "--log-level", "warn")
	post := func() int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/cases/track/run", nil)
		req.Header.Set("Authorization", "Bearer "+remoteToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("POST: %v", err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Two manual runs at once: one runs (2s), the other is refused at once with 409; the
	// refusal proves the run in flight the gate will meet.
	codes := make(chan int, 2)
	deadline := time.Now().Add(time.Minute)
	for {
		go func() { codes <- post() }()
		go func() { codes <- post() }()
		if c := <-codes; c == http.StatusConflict {
			break
		}
		<-codes // both ran (a scheduled run in between): try again
		if time.Now().After(deadline) {
			t.Fatal("never saw a 409 from two concurrent manual runs")
		}
	}
	r, suites := remoteGate(t, srv.base, "--admin-token", remoteToken, "--log-level", "info")
	if r.code != exitOK || lastLine(r.stdout) != "1 passed, 0 failed" || !strings.Contains(r.stderr, "case busy with another run") {
		t.Fatalf("exit %d, want 0 after waiting for the busy case\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if cases, failed := testcases(suites); failed != 0 || len(cases["track"]) != 1 {
		t.Errorf("JUnit %v, want track once, passed", cases)
	}
	if code := <-codes; code != http.StatusOK {
		t.Errorf("the manual run in flight answered %d", code)
	}
}
