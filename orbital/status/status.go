package status

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/orbital"
)

// Defaults of a Config.
const (
	DefaultHistory     = 200
	DefaultMaxCases    = 1000
	DefaultMaxOutput   = 64 << 10
	DefaultMaxLogBytes = 64 << 20
	DefaultRunsLimit   = 50
	// StripLen is how many of the last runs the page's strip shows.
	StripLen = 50
)

// Config configures a Status. Only Service is required.
type Config struct {
	// Service provides the registered cases (rows appear before their first
	// run, with their period) and runs cases for POST /api/cases/{name}/run.
	// New adds the Status to it as a reporter ([orbital.Service.AddReporter]),
	// so every result from then on is recorded. Required.
	Service *orbital.Service
	// History is how many runs are kept per case; a subtest is a case of its
	// own. It is also the largest ?limit of /api/cases/{name}/runs.
	// Default: 200.
	History int
	// AdminToken is the bearer token POST /api/cases/{name}/run requires.
	// Default "": that endpoint is disabled (403). Never rendered or logged.
	AdminToken string
	// Version is shown in the page header and /api/status.
	Version string
	// Target is the pipeline under test, shown in the header: "embedded" or
	// the tracking API URL (user info, query and fragment are not shown).
	Target string
	// Logger logs manual runs. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// MaxCases bounds how many distinct case names (subtests included) have a
	// history. Default: 1000.
	MaxCases int
	// MaxOutput bounds the log kept per run, in bytes; a longer log keeps its
	// head and tail. Default: 64 KiB.
	MaxOutput int
	// MaxLogBytes bounds the logs of all retained runs together; past it the
	// oldest runs lose their log. Default: 64 MiB.
	MaxLogBytes int
	// Replica names this process in the runs it records through Report (the
	// "replica" field of a run). Default "": runs carry no replica.
	Replica string
	// Fed makes the history come from [Status.Feed] only: New does not add
	// the Status to the Service as a reporter, so a run is recorded once,
	// when it comes back from wherever results are shared (a cluster's
	// results topic). Default false: every result of the Service is recorded.
	Fed bool
	// TraceURL links each run to the user's tracing UI: every "{trace_id}"
	// in it becomes the run's W3C trace-id ([orbital.W3CTraceID], the trace
	// id of the traceparent the suites send), e.g.
	// "https://tracing.example/trace/{trace_id}". The run detail and the
	// runs of the JSON API ("trace_url") carry the link. Default "": no links.
	TraceURL string
}

// Status records orbital results in memory and serves them as a status page
// and a JSON API. It is an [orbital.Reporter] and an [http.Handler]. It is
// safe for concurrent use: Report may be called from many goroutines while
// requests are served.
type Status struct {
	svc      *orbital.Service
	tokenSum [sha256.Size]byte
	hasToken bool
	version  string
	target   string
	logger   *slog.Logger
	now      func() time.Time
	started  time.Time
	history  int
	replica  string
	traceURL string // Config.TraceURL
	assets   http.Handler
	mux      *http.ServeMux
	pageTmpl pageTemplate

	mu    sync.Mutex
	store *store
}

// New returns a Status configured by cfg. It returns an error when Service is
// nil or a bound is negative.
func New(cfg Config) (*Status, error) {
	if cfg.Service == nil {
		return nil, errors.New("status: Config.Service is required")
	}
	if cfg.History < 0 || cfg.MaxCases < 0 || cfg.MaxOutput < 0 || cfg.MaxLogBytes < 0 {
		return nil, errors.New("status: History, MaxCases, MaxOutput and MaxLogBytes must not be negative")
	}
	if err := CheckTraceURL(cfg.TraceURL); err != nil {
		return nil, fmt.Errorf("status: Config.TraceURL: %w", err)
	}
	s := &Status{
		svc:      cfg.Service,
		version:  cfg.Version,
		target:   redactTarget(cfg.Target),
		logger:   cfg.Logger,
		now:      cfg.Now,
		history:  orDefault(cfg.History, DefaultHistory),
		replica:  cfg.Replica,
		traceURL: cfg.TraceURL,
	}
	if s.version == "" {
		s.version = "dev"
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.AdminToken != "" {
		s.hasToken = true
		s.tokenSum = sha256.Sum256([]byte(cfg.AdminToken))
	}
	s.started = s.now()
	s.store = newStore(s.history,
		orDefault(cfg.MaxCases, DefaultMaxCases),
		orDefault(cfg.MaxOutput, DefaultMaxOutput),
		orDefault(cfg.MaxLogBytes, DefaultMaxLogBytes))

	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("status: assets: %w", err)
	}
	s.assets = http.StripPrefix("/assets/", http.FileServerFS(sub))
	if s.pageTmpl, err = parsePage(); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	if !cfg.Fed {
		cfg.Service.AddReporter(s)
	}
	return s, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Report records a finished run. It is the [orbital.Reporter] method; it
// returns quickly and never blocks on requests being served. Report on a nil
// *Status does nothing.
func (s *Status) Report(r orbital.Result) {
	if s == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	s.store.add(r, s.replica, now, now, s.registeredSet)
	s.mu.Unlock()
}

// Feed records a run made elsewhere or earlier, such as one read back from a
// cluster's results topic: replica names the process that ran it. Its 1 h
// and 24 h buckets are those of the run's own start (r.Start; the time of
// Feed when it is zero), so a history replayed at start-up keeps its ratios.
// Runs fed in the same order on two Status values give the same history.
// Feed on a nil *Status does nothing.
func (s *Status) Feed(r orbital.Result, replica string) {
	if s == nil {
		return
	}
	now := s.now()
	at := r.Start
	if at.IsZero() || at.After(now) {
		at = now
	}
	s.mu.Lock()
	s.store.add(r, replica, at, now, s.registeredSet)
	s.mu.Unlock()
}

// registeredSet returns the names of the registered cases.
func (s *Status) registeredSet() map[string]bool {
	cases := s.svc.Cases()
	m := make(map[string]bool, len(cases))
	for _, c := range cases {
		m[c.Name] = true
	}
	return m
}

// ServeHTTP serves the page, its assets and the JSON API (see the package
// documentation for the routes).
func (s *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Status) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handlePage)
	mux.Handle("GET /assets/", s.assets)
	mux.HandleFunc("GET /api/status", s.handleStatus)
	mux.HandleFunc("GET /api/cases", s.handleCases)
	mux.HandleFunc("GET /api/runs", s.handleWindow)
	mux.HandleFunc("GET /api/incidents", s.handleIncidents)
	mux.HandleFunc("GET /api/cases/{rest...}", s.handleCaseGet)
	mux.HandleFunc("POST /api/cases/{rest...}", s.handleCasePost)
	mux.HandleFunc("/api/", s.handleAPINotFound)
	mux.HandleFunc("/", s.handleNotFound)
	return mux
}

// redactTarget hides credentials a target URL may carry (redact.URL); a value
// without a host that holds '@', '?' or '#' could be anything and is hidden.
func redactTarget(t string) string {
	if t == "" {
		return "embedded"
	}
	r := redact.URL(t)
	if u, err := url.Parse(t); r == redact.Unparseable || err != nil || (u.Host == "" && strings.ContainsAny(t, "@?#")) {
		return "(hidden)"
	}
	return r
}

// CheckTraceURL reports whether tmpl is a valid Config.TraceURL: "" or an
// absolute http(s) URL with "{trace_id}" in it. The page renders it as a
// link, so a javascript: URL would run, and shows it to everyone who can
// see the page, so it must hold no user info. The error shows the URL without its
// user info, query and fragment.
func CheckTraceURL(tmpl string) error {
	if tmpl == "" {
		return nil
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{trace_id}", "0"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL such as https://tracing.example/trace/{trace_id}", redact.URL(tmpl))
	}
	if u.User != nil {
		return fmt.Errorf("%q holds user info: links on the page must carry no credentials", redact.URL(tmpl))
	}
	if !strings.Contains(tmpl, "{trace_id}") {
		return fmt.Errorf("%q has no {trace_id}", redact.URL(tmpl))
	}
	return nil
}
