package status_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fixture is a Service with cases, a Status reporting its runs and a server
// serving the Status.
type fixture struct {
	svc *orbital.Service
	st  *status.Status
	srv *httptest.Server
}

// newFixture registers cases on a new Service, wires a Status configured by
// cfg (Service and Logger filled in) and serves it on loopback.
func newFixture(t *testing.T, cfg status.Config, cases ...orbital.TestCase) *fixture {
	t.Helper()
	f := &fixture{}
	f.svc = orbital.New(
		orbital.WithOutput(io.Discard),
		orbital.WithLogger(quietLogger()),
		orbital.WithStartSpread(0),
	)
	for _, tc := range cases {
		if err := f.svc.Register(tc); err != nil {
			t.Fatalf("Register(%q): %v", tc.Name, err)
		}
	}
	cfg.Service = f.svc
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	st, err := status.New(cfg)
	if err != nil {
		t.Fatalf("status.New: %v", err)
	}
	f.st = st
	f.srv = httptest.NewUnstartedServer(st)
	f.srv.Config.ReadHeaderTimeout = 5 * time.Second
	f.srv.Config.ReadTimeout = 10 * time.Second
	f.srv.Config.WriteTimeout = 10 * time.Second
	f.srv.Config.IdleTimeout = 30 * time.Second
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func passing(name string) orbital.TestCase {
	return orbital.TestCase{Name: name, Period: time.Minute, Func: func(ctx context.Context, o *orbital.O) {
		o.Log("all good")
		o.Measure("delivery.latency", 42*time.Millisecond)
	}}
}

// do sends a request and returns the status code, the Content-Type and the
// body.
func do(t *testing.T, method, url string, header map[string]string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), b
}

// getJSON GETs url, expects want and decodes the body into v.
func getJSON(t *testing.T, url string, want int, v any) {
	t.Helper()
	code, ct, b := do(t, http.MethodGet, url, nil)
	if code != want {
		t.Fatalf("GET %s: status %d, want %d; body %s", url, code, want, b)
	}
	if !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q, want JSON", url, ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v; body %s", url, err, b)
	}
}

// result is a Result of case name with the given outcome and duration.
func result(name string, o orbital.Outcome, d time.Duration) orbital.Result {
	r := orbital.Result{
		Case:     name,
		TraceID:  "trace-" + name,
		Start:    time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration: d,
		Outcome:  o,
		Output:   "--- " + strings.ToUpper(string(o)) + ": " + name + "\n",
	}
	// As orbital sets it: the enclosing run of a subtest.
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		r.Parent = name[:i]
	}
	if o == orbital.Fail {
		r.Error = "boom"
	}
	return r
}
