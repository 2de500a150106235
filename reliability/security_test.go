package reliability_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/faultsapi"
	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// basic returns the Basic credentials for user with an empty password.
func basic(user string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":")) }

// do sends a request and returns the status and (bounded) body.
func do(t *testing.T, method, url string, header map[string]string, body string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b)
}

// TestAdminEndpointsNeedToken: the pipeline's fault admin and the status
// page's manual run refuse requests without the right bearer token.
func TestAdminEndpointsNeedToken(t *testing.T) {
	s := newStack(t, stackConfig{})
	r := s.startService(t, 0, suite(t, s.harness(), time.Hour, trackTimeout, "track")...)
	page, err := status.New(status.Config{Service: r.svc, AdminToken: adminToken, Logger: s.logger})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(page)
	defer ps.Close()
	// e2e's own /api/faults over the embedded pipeline (internal/faultsapi).
	fa := httptest.NewServer(faultsapi.New(faultsapi.Config{Get: s.pipeline.Faults, Set: s.pipeline.SetFaults, Token: adminToken, Logger: s.logger}))
	defer fa.Close()
	tests := []struct {
		name, method, url, token string
		want                     int
	}{
		{"e2e faults without token", "PUT", fa.URL + "/api/faults", "", 401},
		{"e2e faults with a wrong token", "PUT", fa.URL + "/api/faults", adminToken + "x", 401},
		{"e2e faults with a prefix of the token", "PUT", fa.URL + "/api/faults", adminToken[:len(adminToken)-1], 401},
		{"e2e faults with the token", "PUT", fa.URL + "/api/faults", adminToken, 200},
		{"faults without token", "PUT", s.api.URL() + "/admin/faults", "", 401},
		{"faults with a wrong token", "PUT", s.api.URL() + "/admin/faults", adminToken + "x", 401},
		{"faults with a prefix of the token", "PUT", s.api.URL() + "/admin/faults", adminToken[:len(adminToken)-1], 401},
		{"faults with the token", "PUT", s.api.URL() + "/admin/faults", adminToken, 200},
		{"manual run without token", "POST", ps.URL + "/api/cases/track/run", "", 401},
		{"manual run with a wrong token", "POST", ps.URL + "/api/cases/track/run", "wrong", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.token != "" {
				h["Authorization"] = "Bearer " + tt.token
			}
			code, body := do(t, tt.method, tt.url, h, "")
			if code != tt.want && !(tt.want == 401 && code == 403) {
				t.Fatalf("status %d (%s), want %d", code, body, tt.want)
			}
			if strings.Contains(body, adminToken) {
				t.Fatalf("the answer contains the admin token: %s", body)
			}
		})
	}
}

// TestSecretsNeverLeak drives passing and failing runs, rejected requests, a
// fault, an unreachable webhook and lost load events, then searches every
// log line, run output and error, the /metrics exposition, the status page
// and API, and every HTTP answer for the write key, the webhook secret and
// the admin token (plain, base64 as in Basic auth, and hex).
func TestSecretsNeverLeak(t *testing.T) {
	s := newStack(t, stackConfig{logLevel: slog.LevelDebug})
	cases := suite(t, s.harness(), 200*time.Millisecond, 3*time.Second, "track", "reject", "dedupe")
	r := s.startService(t, 0, cases...)
	page, err := status.New(status.Config{Service: r.svc, AdminToken: adminToken, Logger: s.logger})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(page)
	defer ps.Close()
	var seen strings.Builder
	record := func(parts ...string) {
		for _, p := range parts {
			seen.WriteString(p)
			seen.WriteByte('\n')
		}
	}

	r.rec.waitFor(t, 0, waitLong, "track to pass", passed("track"))
	r.rec.waitFor(t, 0, waitLong, "reject to pass", passed("reject"))

	// Answers to hostile and wrong requests.
	_, b := do(t, "POST", s.api.URL()+"/v1/track", map[string]string{"Authorization": "Basic " + basic(writeKey+"x")}, `{"event":"e","userId":"u"}`)
	record(b)
	_, b = do(t, "POST", s.api.URL()+"/v1/track", map[string]string{"Authorization": "Basic " + basic(writeKey)}, `{"event":`)
	record(b)
	_, b = do(t, "POST", s.hook.URL()+"/webhook", nil, `{"messageId":"x"}`)
	record(b)
	_, b = do(t, "PUT", s.api.URL()+"/admin/faults", map[string]string{"Authorization": "Bearer nope"}, "drop=1")
	record(b)
	_, b = do(t, "POST", ps.URL+"/api/cases/track/run", map[string]string{"Authorization": "Bearer nope"}, "")
	record(b)

	// Failing runs: every event dropped, then the webhook unreachable.
	m := r.rec.mark()
	if code, b := do(t, "PUT", s.api.URL()+"/admin/faults", map[string]string{"Authorization": "Bearer " + adminToken}, "drop=1"); code != 200 {
		t.Fatalf("setting faults: %d %s", code, b)
	}
	r.rec.waitFor(t, m, waitLong, "a run failing on the dropped event", failedWith("track", "not delivered"))
	s.pipeline.SetFaults(pipeline.Faults{})
	m = r.rec.mark()
	s.hook.down()
	r.rec.waitFor(t, m, waitLong, "a run failing on the unreachable webhook", failedWith("track", "not delivered"))
	rep, err := load.Run(context.Background(), load.Config{APIURL: s.api.URL(), WriteKey: writeKey, Waiter: s.rl, Rate: 20, Duration: 200 * time.Millisecond, DeliveryTimeout: 300 * time.Millisecond, Logger: s.logger})
	if err != nil {
		t.Fatal(err)
	}
	record(rep.String())
	s.hook.up()
	r.rec.waitFor(t, r.rec.mark(), waitLong, "track to pass again", passed("track"))

	// A pipeline refusing its config.
	if _, err := pipeline.New(pipeline.Config{WriteKeys: []string{writeKey}, DestinationSecret: []byte(webhookSecret), AdminToken: adminToken}); err != nil {
		record(err.Error())
	} else {
		t.Error("pipeline.New without brokers succeeded")
	}
	// The load generator's own errors.
	_, err = load.Run(context.Background(), load.Config{APIURL: "http://" + writeKey + "@", WriteKey: writeKey, Waiter: s.rl})
	if err != nil {
		record(err.Error())
	}

	// Everything the service and its surfaces show.
	for _, res := range r.rec.all() {
		page.Report(res)
		record(res.Error, res.Output)
	}
	record(r.output.String(), s.logs.String())
	for _, path := range []string{"/", "/api/status", "/api/cases", "/api/cases/track/runs"} {
		_, b := do(t, "GET", ps.URL+path, nil, "")
		record(b)
	}
	rec := httptest.NewRecorder()
	s.prom.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	record(rec.Body.String())

	text := seen.String()
	if r.rec.n("track", orbital.Fail) == 0 || !strings.Contains(text, "not delivered") || !strings.Contains(text, "orbital_runs_total") {
		t.Fatalf("the material searched lacks the failures or metrics it should hold (%d bytes)", len(text))
	}
	for name, secret := range map[string]string{"write key": writeKey, "webhook secret": webhookSecret, "admin token": adminToken} {
		for form, needle := range map[string]string{
			"plain":  secret,
			"basic":  basic(secret),
			"base64": base64.StdEncoding.EncodeToString([]byte(secret)),
			"hex":    hex.EncodeToString([]byte(secret)),
		} {
			if i := strings.Index(text, needle); i >= 0 {
				t.Errorf("the %s (%s) appears in what the service shows: ...%s...", name, form, text[max(i-200, 0):min(i+len(needle)+50, len(text))])
			}
		}
	}
	t.Logf("searched %d KiB of logs, outputs, errors, pages and metrics", len(text)>>10)
}

// constantTimeExempt lists comparisons the scan flags that compare no input
// against a secret, with the reason (file relative to the module root, then
// the expression as written).
var constantTimeExempt = map[string]string{
	"tests/reject.go: s.writeKey == wrongWriteKey": "a configuration guard: the configured key against the suite's fixed decoy, no client input",
}

// secretName matches identifiers that hold secrets.
var secretName = regexp.MustCompile(`(?i)(token|secret|writekey|password|signature|\bsig\b|tokensum)`)

// TestSecretComparisonsAreConstantTime scans the module's non-test Go files
// for == or != comparisons whose operands name a secret (token, secret,
// write key, signature) and are not compared with a literal or nil: such
// comparisons must use subtle.ConstantTimeCompare or hmac.Equal instead.
func TestSecretComparisonsAreConstantTime(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	var files, found int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "deploy" || n == "testdata" || strings.HasPrefix(n, ".") && n != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return nil // a file being written by someone else right now
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			be, ok := n.(*ast.BinaryExpr)
			if !ok || (be.Op != token.EQL && be.Op != token.NEQ) {
				return true
			}
			if trivial(be.X) || trivial(be.Y) {
				return true
			}
			x, y := string(src[fset.Position(be.X.Pos()).Offset:fset.Position(be.X.End()).Offset]), string(src[fset.Position(be.Y.Pos()).Offset:fset.Position(be.Y.End()).Offset])
			rel, _ := filepath.Rel(root, path)
			if _, ok := constantTimeExempt[filepath.ToSlash(rel)+": "+x+" "+be.Op.String()+" "+y]; ok {
				return true
			}
			if secretName.MatchString(x) || secretName.MatchString(y) {
				found++
				t.Errorf("%s: %s %s %s compares a secret with %s; use subtle.ConstantTimeCompare or hmac.Equal", fset.Position(be.Pos()), x, be.Op, y, be.Op)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("scanned only %d files", files)
	}
	t.Logf("scanned %d files, %d non-constant-time secret comparisons", files, found)
}

// trivial reports whether e is a literal, nil, a length or a constant-like
// operand, which may be compared with == safely (emptiness checks).
func trivial(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return v.Name == "nil" || v.Name == "true" || v.Name == "false"
	case *ast.CallExpr:
		if id, ok := v.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
			return true
		}
	case *ast.ParenExpr:
		return trivial(v.X)
	}
	return false
}
