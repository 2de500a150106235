package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The secrets of the security tests: distinctive, so that any copy of one is
// found, and of characters no encoder escapes.
const (
	secWriteKey      = "wk-Sec7Kq3ZpWriteKey"
	secWebhookSecret = "whs-Sec9Lm4XrHookSecret"
	secAdminToken    = "adm-Sec2Vb8TnAdminToken"
)

// secretArgs are the flags that hand the secrets to serve; gate has no
// admin token.
var (
	secretArgs     = []string{"--write-key", secWriteKey, "--webhook-secret", secWebhookSecret, "--admin-token", secAdminToken}
	gateSecretArgs = secretArgs[:4]
)

// leaks returns which secrets text contains, in any form a careless log line
// or error would carry one: as is, base64 (an HTTP Basic credential is
// base64 of "user:password"), hex, or URL-escaped.
func leaks(text string) []string {
	var found []string
	for name, s := range map[string]string{"write key": secWriteKey, "webhook secret": secWebhookSecret, "admin token": secAdminToken} {
		for _, form := range []string{
			s,
			base64.StdEncoding.EncodeToString([]byte(s)),
			base64.StdEncoding.EncodeToString([]byte(s + ":")),
			base64.RawURLEncoding.EncodeToString([]byte(s)),
			hex.EncodeToString([]byte(s)),
			url.QueryEscape(s),
		} {
			if strings.Contains(text, form) && !slices.Contains(found, name+" ("+form+")") {
				found = append(found, name+" ("+form+")")
			}
		}
	}
	return found
}

// noLeak fails the test when text carries a secret.
func noLeak(t *testing.T, where, text string) {
	t.Helper()
	if found := leaks(text); len(found) > 0 {
		t.Errorf("%s leaks the %s:\n%s", where, strings.Join(found, ", "), text)
	}
}

func TestLeaksDetectsEveryForm(t *testing.T) {
	tests := []struct {
		name, text string
		leak       bool
	}{
		{"raw", "key=" + secWriteKey, true},
		{"basic auth header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(secWriteKey+":")), true},
		{"bearer", "Bearer " + secAdminToken, true},
		{"hex", hex.EncodeToString([]byte(secWebhookSecret)), true},
		{"masked", `"write_key":"<set>"`, false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(leaks(tt.text)) > 0; got != tt.leak {
				t.Errorf("leaks(%q) found a leak: %v, want %v", tt.text, got, tt.leak)
			}
		})
	}
}

// TestServeKeepsSecrets runs serve on the embedded default with all three
// secrets, lets runs pass and fail (faults in the pipeline), provokes
// rejected requests, and checks that no secret appears in any response, log
// line, run output or error.
func TestServeKeepsSecrets(t *testing.T) {
	cases := []string{"track", "batch", "dedupe", "reject", "kafka"}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--run", "^(" + strings.Join(cases, "|") + ")$",
		"--log-level", "debug", "--log-format", "json", "--drain", "10s",
		// corrupt makes some track runs fail on what is delivered;
		// dest5xx makes the pipeline retry (and log) deliveries.
		"--faults", "corrupt=0.3,dest5xx=0.3",
		"--case-period", "track=200ms,batch=500ms,dedupe=500ms,reject=500ms,kafka=500ms",
		"--case-timeout", "track=10s"}, secretArgs...)
	srv := startServe(t, &app{}, args...)
	base, stdout, stderr, done := srv.base, srv.stdout, srv.stderr, srv.done
	waitReady(t, base, done)
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(method, u string, body string, header map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		noLeak(t, method+" "+u+" answer", string(b))
		for k, vs := range resp.Header {
			noLeak(t, method+" "+u+" header "+k, strings.Join(vs, ","))
		}
		return resp.StatusCode, string(b)
	}
	get := func(path string) (int, string) { t.Helper(); return do(http.MethodGet, base+path, "", nil) }
	runsOf := func(name string) []struct{ Outcome, Error, Output string } {
		t.Helper()
		code, body := get("/api/cases/" + name + "/runs?limit=1000")
		if code != http.StatusOK {
			t.Fatalf("/api/cases/%s/runs = %d %s", name, code, body)
		}
		var runs []struct{ Outcome, Error, Output string }
		if err := json.Unmarshal([]byte(body), &runs); err != nil {
			t.Fatalf("/api/cases/%s/runs: %v", name, err)
		}
		return runs
	}

	// Wait for track to pass (deliveries verified with the webhook secret)
	// and to fail (a corrupted delivery), and for every case to have run.
	deadline := time.Now().Add(90 * time.Second)
	for {
		outcomes := map[string]bool{}
		for _, r := range runsOf("track") {
			outcomes[r.Outcome] = true
		}
		ran := 0
		for _, c := range cases[1:] {
			if len(runsOf(c)) > 0 {
				ran++
			}
		}
		if outcomes["pass"] && outcomes["fail"] && ran == len(cases)-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 90s: track outcomes %v, %d of %d other cases ran\nstderr:\n%s", outcomes, ran, len(cases)-1, stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d\nstderr:\n%s", code, stderr.String())
		case <-time.After(100 * time.Millisecond): // polling interval of an external signal
		}
	}

	// Rejected webhook deliveries: unsigned, a wrong signature, signed with
	// a near miss of the secret.
	delivery := `{"messageId":"sec-probe","type":"track","event":"probe"}`
	mac := hmac.New(sha256.New, []byte(secWebhookSecret+"x"))
	mac.Write([]byte(delivery))
	for _, sig := range []string{"", "sha256=00", "sha256=" + hex.EncodeToString(mac.Sum(nil)), secWebhookSecret} {
		if code, body := do(http.MethodPost, base+"/webhook", delivery, map[string]string{"Content-Type": "application/json", "X-Signature": sig}); code != http.StatusUnauthorized {
			t.Errorf("POST /webhook with X-Signature %q = %d %s, want 401", sig, code, body)
		}
	}

	// Manual runs: refused without the right token, run with it.
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + secAdminToken + "x", "Basic " + secAdminToken, secAdminToken} {
		if code, body := do(http.MethodPost, base+"/api/cases/track/run", "", map[string]string{"Authorization": auth}); code != http.StatusUnauthorized {
			t.Errorf("POST /api/cases/track/run with Authorization %q = %d %s, want 401", auth, code, body)
		}
	}
	bearer := map[string]string{"Authorization": "Bearer " + secAdminToken}
	if code, body := do(http.MethodPost, base+"/api/cases/track/run", "", bearer); code != http.StatusOK && code != http.StatusConflict {
		t.Errorf("POST /api/cases/track/run with the admin token = %d %s", code, body)
	}
	if code, body := do(http.MethodPost, base+"/api/cases/nope/run", "", bearer); code != http.StatusNotFound {
		t.Errorf("POST /api/cases/nope/run = %d %s, want 404", code, body)
	}

	// The embedded pipeline's tracking API, with the write key serve gave it.
	m := regexp.MustCompile(`"msg":"embedded pipeline started","api":"(http://[^"]+)"`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no embedded pipeline start line in the logs:\n%s", stderr.String())
	}
	api := m[1]
	basic := func(user string) map[string]string {
		return map[string]string{"Content-Type": "application/json",
			"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"))}
	}
	event := `{"type":"track","event":"probe","userId":"u","messageId":"sec-api-probe"}`
	for _, tt := range []struct {
		name   string
		body   string
		header map[string]string
		want   int
	}{
		{"the write key", event, basic(secWriteKey), http.StatusOK},
		{"a wrong write key", event, basic(secWriteKey + "x"), http.StatusUnauthorized},
		{"no write key", event, map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
		{"an invalid event", `{"type":"track"`, basic(secWriteKey), http.StatusBadRequest},
	} {
		code, body := do(http.MethodPost, api+"/v1/track", tt.body, tt.header)
		if code/100 != tt.want/100 {
			t.Errorf("POST %s/v1/track with %s = %d %s, want %d", api, tt.name, code, body, tt.want)
		}
	}
	do(http.MethodPut, api+"/admin/faults", "drop=1", map[string]string{"Authorization": "Bearer " + secAdminToken + "x"})

	// Every page and API answer (do checks them as they come).
	paths := []string{"/", "/metrics", "/healthz", "/readyz", "/api/status", "/api/cases", "/api/nope", "/nope", "/api/cases/track/run"}
	for _, c := range append(cases, "nope") {
		paths = append(paths, "/api/cases/"+c, "/api/cases/"+c+"/runs?limit=1000", "/api/cases/"+c+"/runs?limit=x")
	}
	for _, p := range paths {
		get(p)
	}
	_, page := get("/")
	for _, asset := range regexp.MustCompile(`/assets/[^"'?#\s]+`).FindAllString(page, -1) {
		get(asset)
	}
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, `orbital_run_duration_seconds_count{case="track",outcome="fail"}`) {
		t.Errorf("/metrics shows no failed track run")
	}
	failed := 0
	for _, c := range cases {
		for _, r := range runsOf(c) {
			noLeak(t, c+" run error", r.Error)
			noLeak(t, c+" run output", r.Output)
			if r.Outcome == "fail" && r.Error != "" {
				failed++
			}
		}
	}
	if failed == 0 {
		t.Errorf("no failed run with an error was checked")
	}

	if code := srv.stop(t); code != exitOK {
		t.Errorf("serve exited with %d, want 0", code)
	}
	noLeak(t, "serve's stdout (go test output)", stdout.String())
	noLeak(t, "serve's stderr (logs)", stderr.String())
	for _, want := range []string{`"write_key":"<set>"`, `"webhook_secret":"<set>"`, `"admin_token":"<set>"`, "--- FAIL: track (", "--- PASS: track ("} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("serve's output lacks %s", want)
		}
	}
}

// TestGateKeepsSecrets runs gate with the write key and webhook secret, once
// passing, once failing (every event dropped) and once refusing its flags,
// and checks its stdout, stderr, --json
// events and JUnit report.
func TestGateKeepsSecrets(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in the JUnit report
	}{
		{"passing", []string{"--run", "^(track|reject)$", "--count", "2"}, exitOK, `<testcase name="track"`},
		// browser carries the write key in its page's URL; it fails here
		// (nothing is delivered) whether or not Chromium starts.
		{"failing", []string{"--run", "^(track|reject|browser)$", "--faults", "drop=1", "--case-timeout", "track=3s,browser=8s"}, exitFail, "<failure"},
		{"usage error", []string{"--faults", "bogus=1"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			junit := filepath.Join(t.TempDir(), "junit.xml")
			args := append(append([]string{"gate", "--json", "--junit", junit, "--log-level", "debug", "--timeout", "60s"}, tt.args...), gateSecretArgs...)
			r := runE2E(t, 2*time.Minute, args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			noLeak(t, "gate's stdout (--json events)", r.stdout)
			noLeak(t, "gate's stderr", r.stderr)
			if tt.want == "" {
				if !strings.Contains(r.stderr, "invalid --faults") {
					t.Errorf("no --faults error on stderr:\n%s", r.stderr)
				}
				return
			}
			report, err := os.ReadFile(junit)
			if err != nil {
				t.Fatalf("JUnit report: %v", err)
			}
			noLeak(t, "the JUnit report", string(report))
			if !strings.Contains(string(report), tt.want) {
				t.Errorf("JUnit report lacks %s:\n%s", tt.want, report)
			}
			rejectPassed := false
			for _, line := range strings.Split(r.stdout, "\n") {
				var ev struct{ Action, Test string }
				if json.Unmarshal([]byte(line), &ev) == nil && ev.Action == "pass" && ev.Test == "reject" {
					rejectPassed = true
				}
			}
			if !rejectPassed {
				t.Errorf("--json events lack reject's pass (the write key was not used?):\n%s", r.stdout)
			}
		})
	}
}
