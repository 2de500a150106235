package faultsapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/faultsapi"
)

// store stands in for the embedded pipeline's Faults and SetFaults.
type store struct {
	mu sync.Mutex
	f  pipeline.Faults
}

func (s *store) get() pipeline.Faults  { s.mu.Lock(); defer s.mu.Unlock(); return s.f }
func (s *store) set(f pipeline.Faults) { s.mu.Lock(); defer s.mu.Unlock(); s.f = f }

func newServer(t *testing.T, token string, initial string) (*httptest.Server, *store, *bytes.Buffer) {
	t.Helper()
	f, err := pipeline.ParseFaults(initial)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{f: f}
	var logs bytes.Buffer
	h := faultsapi.New(faultsapi.Config{Get: st.get, Set: st.set, Token: token,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mux := http.NewServeMux()
	mux.Handle(faultsapi.Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, st, &logs
}

func do(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGetAnswersCurrentFaults(t *testing.T) {
	srv, _, _ := newServer(t, "T", "drop=0.5,delay=200ms")
	code, body := do(t, http.MethodGet, srv.URL+faultsapi.Path, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET: %d %s", code, body)
	}
	var got pipeline.Faults
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("GET body %q: %v", body, err)
	}
	if got.String() != "drop=0.5,delay=200ms" {
		t.Errorf("GET = %q, want drop=0.5,delay=200ms", got.String())
	}
}

// TestPutBodyFormats: every body /admin/faults of the example pipeline takes.
func TestPutBodyFormats(t *testing.T) {
	srv, st, logs := newServer(t, "T", "")
	for _, tc := range []struct{ name, body, want string }{
		{"spec", "drop=1", "drop=1"},
		{"spec with spaces", "  drop=0.1, delay=2s\n", "drop=0.1,delay=2s"},
		{"json string", `"dup=0.5"`, "dup=0.5"},
		{"json spec object", `{"spec":"dest5xx=0.2"}`, "dest5xx=0.2"},
		{"json fields", `{"drop":0.25,"delay":"12s"}`, "drop=0.25,delay=12s"},
		{"empty clears", "", ""},
		{"none clears", "none", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, http.MethodPut, srv.URL+faultsapi.Path, "Bearer T", tc.body)
			if code != http.StatusOK {
				t.Fatalf("PUT %q: %d %s", tc.body, code, body)
			}
			if got := st.get().String(); got != tc.want {
				t.Errorf("faults after PUT %q = %q, want %q", tc.body, got, tc.want)
			}
			var echoed pipeline.Faults
			if err := json.Unmarshal([]byte(body), &echoed); err != nil || echoed.String() != tc.want {
				t.Errorf("PUT answered %q (%v), want the new faults %q", body, err, tc.want)
			}
			if _, body := do(t, http.MethodGet, srv.URL+faultsapi.Path, "", ""); !strings.Contains(body, `"spec":"`+tc.want+`"`) {
				t.Errorf("GET after PUT = %s, want spec %q", body, tc.want)
			}
		})
	}
	if strings.Contains(logs.String(), "Bearer") || strings.Contains(logs.String(), `"T"`) {
		t.Errorf("the token reached the log:\n%s", logs)
	}
}

func TestPutRefusals(t *testing.T) {
	srv, st, _ := newServer(t, "secret-token", "dup=0.1")
	noToken, _, _ := newServer(t, "", "dup=0.1")
	for _, tc := range []struct {
		name, url, method, auth, body string
		want                          int
	}{
		{"no token configured", noToken.URL, http.MethodPut, "Bearer secret-token", "drop=1", http.StatusForbidden},
		{"missing token", srv.URL, http.MethodPut, "", "drop=1", http.StatusUnauthorized},
		{"wrong token", srv.URL, http.MethodPut, "Bearer secret-tokeN", "drop=1", http.StatusUnauthorized},
		{"prefix of the token", srv.URL, http.MethodPut, "Bearer secret", "drop=1", http.StatusUnauthorized},
		{"not bearer", srv.URL, http.MethodPut, "Basic secret-token", "drop=1", http.StatusUnauthorized},
		{"bad spec", srv.URL, http.MethodPut, "Bearer secret-token", "drop=2", http.StatusBadRequest},
		{"unknown fault", srv.URL, http.MethodPut, "Bearer secret-token", "explode=1", http.StatusBadRequest},
		{"bad json", srv.URL, http.MethodPut, "Bearer secret-token", `{"drop":`, http.StatusBadRequest},
		{"too large", srv.URL, http.MethodPut, "Bearer secret-token", "drop=1," + strings.Repeat(" ", 5000), http.StatusRequestEntityTooLarge},
		{"delete", srv.URL, http.MethodDelete, "Bearer secret-token", "", http.StatusMethodNotAllowed},
		{"post", srv.URL, http.MethodPost, "Bearer secret-token", "drop=1", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, tc.url+faultsapi.Path, tc.auth, tc.body)
			if code != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Errorf("body %q is not a JSON error", body)
			}
			if strings.Contains(body, "secret-token") {
				t.Errorf("the token is in the answer: %s", body)
			}
			if got := st.get().String(); got != "dup=0.1" {
				t.Errorf("faults changed to %q by a refused request", got)
			}
		})
	}
}

func TestNoEmbeddedPipeline(t *testing.T) {
	srv := httptest.NewServer(faultsapi.New(faultsapi.Config{Token: "T"}))
	defer srv.Close()
	for _, m := range []string{http.MethodGet, http.MethodPut} {
		if code, body := do(t, m, srv.URL+faultsapi.Path, "Bearer T", "drop=1"); code != http.StatusNotFound {
			t.Errorf("%s without an embedded pipeline: %d %s, want 404", m, code, body)
		}
	}
}
