package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	_ "embed"
)

// AnalyticsJSPackage is the npm package of Segment's analytics.js that the
// browser suite sends through; AnalyticsJSVersion is the version
// tests/package.json pins (make test and .ci/run install it with npm ci).
const (
	AnalyticsJSPackage = "@segment/analytics-next"
	AnalyticsJSVersion = "1.84.3"
)

// AnalyticsJS is an installed copy of AnalyticsJSPackage.
type AnalyticsJS struct {
	// Dir is the package's directory, .../node_modules/@segment/analytics-next.
	Dir string
	// Version is the version its package.json declares, e.g. "1.84.3".
	Version string
}

// Library is the context.library analytics.js puts in every event it sends
// from its browser bundle: {"name": "analytics.js", "version": "next-<Version>"}.
func (a AnalyticsJS) Library() map[string]any {
	return map[string]any{"name": "analytics.js", "version": "next-" + a.Version}
}

// bundle is the browser bundle: dist/umd/index.js, which defines the global
// AnalyticsNext.
func (a AnalyticsJS) bundle() string { return filepath.Join(a.Dir, "dist", "umd", "index.js") }

// FindAnalyticsJS locates an installed AnalyticsJSPackage. dir, when set, is
// the package directory or a node_modules directory holding it. Otherwise
// it looks in tests/node_modules and node_modules of the working directory
// and of each of its parents, so that both `go run ./cmd/e2e` at the
// repository root and `go test ./tests/` find what `make npm` installed.
// The error says where it looked.
func FindAnalyticsJS(dir string) (AnalyticsJS, error) {
	var candidates []string
	if dir != "" {
		candidates = []string{dir, filepath.Join(dir, filepath.FromSlash(AnalyticsJSPackage))}
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return AnalyticsJS{}, fmt.Errorf("%s: %w", AnalyticsJSPackage, err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			for _, nm := range []string{filepath.Join(d, "tests", "node_modules"), filepath.Join(d, "node_modules")} {
				candidates = append(candidates, filepath.Join(nm, filepath.FromSlash(AnalyticsJSPackage)))
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if a, err := readAnalyticsJS(c); err == nil {
			return a, nil
		}
	}
	if dir != "" {
		return AnalyticsJS{}, fmt.Errorf("%s is not installed in %s", AnalyticsJSPackage, dir)
	}
	return AnalyticsJS{}, fmt.Errorf("%s is not installed in tests/node_modules or node_modules of the working directory or a parent (run `make npm`)", AnalyticsJSPackage)
}

// readAnalyticsJS reads the package at dir: its package.json must name
// AnalyticsJSPackage and its browser bundle must exist.
func readAnalyticsJS(dir string) (AnalyticsJS, error) {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return AnalyticsJS{}, err
	}
	var pkg struct{ Name, Version string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		return AnalyticsJS{}, err
	}
	if pkg.Name != AnalyticsJSPackage || pkg.Version == "" {
		return AnalyticsJS{}, fmt.Errorf("%s is %q %q, not %s", dir, pkg.Name, pkg.Version, AnalyticsJSPackage)
	}
	a := AnalyticsJS{Dir: dir, Version: pkg.Version}
	if _, err := os.Stat(a.bundle()); err != nil {
		return AnalyticsJS{}, err
	}
	return a, nil
}

// BrowserPagePath is where e2e serves the browser suite's page
// (NewBrowserPage): http://<e2e>/orbital/browser/.
const BrowserPagePath = "/orbital/browser/"

//go:embed assets/browser.html
var browserHTML string

var browserTmpl = template.Must(template.New("browser").Parse(browserHTML))

// chunkName is the file name of one of analytics.js's lazily loaded chunks.
var chunkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.js$`)

// BrowserPage is the page the browser suite loads in Chromium: it serves
// the installed analytics.js (AnalyticsJSPackage's dist/umd bundle and the
// chunks it loads on demand) and a page whose orbitalSend function loads it
// with the pipeline's settings and sends the run's events. Without the
// installed library the page falls back to the example pipeline's own small
// snippet (GET /analytics.js of the API), and says so. Mount it at
// BrowserPagePath; it holds no secret (the suite hands the write key to the
// page's function, never in a URL). It is safe for concurrent use.
type BrowserPage struct {
	lib AnalyticsJS
	err error // why the library is not there
}

// NewBrowserPage returns the page for the analytics.js FindAnalyticsJS(dir)
// finds, or for the fallback snippet when it finds none.
func NewBrowserPage(dir string) *BrowserPage {
	lib, err := FindAnalyticsJS(dir)
	return &BrowserPage{lib: lib, err: err}
}

// Library returns the analytics.js the page serves, or the error saying why
// it serves the fallback snippet instead.
func (p *BrowserPage) Library() (AnalyticsJS, error) { return p.lib, p.err }

// ServeHTTP serves the page at BrowserPagePath (or "/" when mounted with
// http.StripPrefix), the bundle at analytics.js and its chunks at
// analytics-next/bundles/<name>.js below it.
func (p *BrowserPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	rest := r.URL.Path
	if i := strings.Index(rest, BrowserPagePath); i >= 0 {
		rest = rest[i+len(BrowserPagePath):]
	}
	rest = strings.TrimPrefix(rest, "/")
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	switch {
	case rest == "" || rest == "index.html":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		data := struct {
			Installed bool
			Library   map[string]string
			Reason    string
		}{Installed: p.err == nil}
		if p.err == nil {
			data.Library = map[string]string{"package": AnalyticsJSPackage, "version": p.lib.Version}
		} else {
			data.Reason = p.err.Error()
		}
		if err := browserTmpl.Execute(w, data); err != nil {
			http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		}
	case rest == "analytics.js":
		p.serveFile(w, r, p.lib.bundle())
	case strings.HasPrefix(rest, "analytics-next/bundles/"):
		name := strings.TrimPrefix(rest, "analytics-next/bundles/")
		if !chunkName.MatchString(name) {
			http.NotFound(w, r)
			return
		}
		p.serveFile(w, r, filepath.Join(p.lib.Dir, "dist", "umd", name))
	default:
		http.NotFound(w, r)
	}
}

func (p *BrowserPage) serveFile(w http.ResponseWriter, r *http.Request, path string) {
	if p.err != nil {
		http.Error(w, AnalyticsJSPackage+" is not installed", http.StatusNotFound)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "reading analytics.js failed", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
