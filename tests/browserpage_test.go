package tests_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/tests"
)

// fakeAnalyticsJS lays out a package directory shaped like the installed
// @segment/analytics-next (package.json, dist/umd/index.js and a chunk) and
// returns the node_modules directory that holds it.
func fakeAnalyticsJS(t *testing.T, name, version string) string {
	t.Helper()
	nm := t.TempDir()
	dir := filepath.Join(nm, "@segment", "analytics-next")
	umd := filepath.Join(dir, "dist", "umd")
	if err := os.MkdirAll(umd, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, body := range map[string]string{
		filepath.Join(dir, "package.json"):         `{"name":"` + name + `","version":"` + version + `"}`,
		filepath.Join(umd, "index.js"):             "/* bundle */",
		filepath.Join(umd, "407.bundle.abc.js"):    "/* chunk */",
		filepath.Join(dir, "secret-not-served.js"): "/* outside dist/umd */",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return nm
}

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Header()
}

// TestBrowserPage: the page names the library it serves, serves the bundle
// and its chunks from dist/umd and nothing else.
func TestBrowserPage(t *testing.T) {
	t.Parallel()
	p := tests.NewBrowserPage(fakeAnalyticsJS(t, tests.AnalyticsJSPackage, "9.9.9"))
	if lib, err := p.Library(); err != nil || lib.Version != "9.9.9" {
		t.Fatalf("Library() = %+v, %v", lib, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+tests.BrowserPagePath, p)
	base := tests.BrowserPagePath
	for _, tc := range []struct {
		method, path string
		want         int
		body         string // contained in the answer
	}{
		{"GET", base, 200, `"version":"9.9.9"`},
		{"GET", base, 200, `<script src="analytics.js"></script>`},
		{"HEAD", base, 200, ""},
		{"GET", base + "analytics.js", 200, "/* bundle */"},
		{"GET", base + "analytics-next/bundles/407.bundle.abc.js", 200, "/* chunk */"},
		{"GET", base + "analytics-next/bundles/missing.js", 404, ""},
		{"GET", base + "analytics-next/bundles/..%2f..%2fsecret-not-served.js", 404, ""},
		{"GET", base + "analytics-next/bundles/.hidden.js", 404, ""},
		{"GET", base + "package.json", 404, ""},
		{"POST", base, 405, ""},
	} {
		code, body, h := get(t, mux, tc.method, tc.path)
		if code != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: %d %.120q, want %d containing %q", tc.method, tc.path, code, body, tc.want, tc.body)
		}
		if strings.Contains(body, "outside dist/umd") {
			t.Errorf("%s %s served a file outside dist/umd", tc.method, tc.path)
		}
		if code == 200 && h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no X-Content-Type-Options: nosniff", tc.method, tc.path)
		}
	}
}

// TestBrowserPageWithoutLibrary: without the package the page says why and
// falls back; a package.json of another package does not count.
func TestBrowserPageWithoutLibrary(t *testing.T) {
	t.Parallel()
	for name, dir := range map[string]string{
		"empty":         t.TempDir(),
		"other package": fakeAnalyticsJS(t, "left-pad", "1.0.0"),
	} {
		t.Run(name, func(t *testing.T) {
			p := tests.NewBrowserPage(dir)
			if _, err := p.Library(); err == nil || !strings.Contains(err.Error(), "is not installed in") {
				t.Fatalf("Library() error = %v, want one saying it is not installed", err)
			}
			code, body, _ := get(t, p, "GET", tests.BrowserPagePath)
			if code != 200 || !regexp.MustCompile(`window\.orbitalLibrary =\s*null\s*;`).MatchString(body) || strings.Contains(body, `src="analytics.js"`) {
				t.Errorf("page without the library: %d\n%s", code, body)
			}
			if code, _, _ := get(t, p, "GET", tests.BrowserPagePath+"analytics.js"); code != 404 {
				t.Errorf("analytics.js without the library: %d, want 404", code)
			}
		})
	}
}
