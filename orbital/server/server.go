// Package server is the HTTP front of an orbital tester in one call: given
// an [orbital.Service] and the waiter its tests wait on, it serves
//
//	/webhook   the pipeline's deliveries (a [webhook.Webhook]: signatures, bounded bodies)
//	/metrics   Prometheus text (Config.Metrics)
//	/healthz   200 while the process can do its job by itself: 503 when the Service's
//	           scheduler is stuck (orbital.Service.Health) or a Config.Live check fails
//	/readyz    200 once serving and every Config.Ready check passes; 503 while starting or draining
//	/          the status page and its JSON API (package orbital/status)
//
// with the timeouts and limits the e2e binary uses, runs the Service's
// scheduler, and drains in order when its context ends (a SIGTERM through
// [signal.NotifyContext]): /readyz turns 503, runs in flight get the
// Service's drain grace, then the HTTP server shuts down.
//
//	srv, err := server.New(server.Config{
//		Service: svc,
//		Webhook: webhook.Config{Logger: waiter, Secret: secret},
//		Metrics: prom,
//	})
//	...
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err = srv.Run(ctx) // until SIGTERM, then drain; Close after
//	srv.Close()
//
// A Server is safe for concurrent use.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbital-e2e/orbital/internal/netx"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
	"github.com/orbital-e2e/orbital/webhook"
	"github.com/segmentio/stats/v4"
)

// Defaults of a Config.
const (
	DefaultAddr              = ":8080"
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultShutdownGrace     = 5 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// ErrServe is wrapped by the error Run returns when the HTTP server failed (without the
// webhook no run can pass, so the Service was stopped).
var ErrServe = errors.New("http server failed")

// Config configures a Server. Service is required; every other field works
// at its zero value.
type Config struct {
	// Service is run by Run and shown by the status page. Required.
	Service *orbital.Service
	// Webhook configures /webhook. Webhook.Logger is the waiter the tests
	// wait on (a *webhook.RouteLogger); without one (a tester whose return
	// path is Kafka, see package kafkasource) there is no /webhook.
	// Webhook.Stats defaults to Stats.
	Webhook webhook.Config
	// Stats is the engine of the webhook's metrics when Webhook.Stats is nil.
	// Default: none.
	Stats *stats.Engine
	// Metrics serves GET /metrics. Default: nil, no /metrics.
	Metrics http.Handler
	// Status configures the status page served at / (its Service is
	// Config.Service). Default: the status package's defaults.
	Status status.Config
	// NoStatus leaves the status page out; / answers 404.
	NoStatus bool
	// Handlers are more routes on the same mux, by Go 1.22 pattern
	// ("PUT /api/faults"). They may not take the routes above.
	Handlers map[string]http.Handler
	// Live are the checks of /healthz beside the Service's own (its
	// scheduler is not stuck): when one fails, the process cannot do its job
	// by itself and should be restarted. Default: none.
	Live []func(context.Context) error
	// Ready are the checks of /readyz: when one fails, a dependency is
	// unreachable and the instance should get no traffic. Default: none.
	Ready []func(context.Context) error

	// Addr is the listen address when Listener is nil. Default: ":8080". The
	// listener caps its connections (an eighth of the fd limit, the idlest
	// evicted for a new one) and retries accept errors such as "too many open
	// files" instead of ending Serve.
	Addr string
	// Listener, when set, is served instead of listening on Addr. Server
	// closes it.
	Listener net.Listener
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's. Defaults: 10s, 30s, 1m, 2m. The status page extends the
	// write deadline of a manual run to the case's timeout by itself.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownGrace bounds the HTTP server's shutdown in Close. Default: 5s.
	ShutdownGrace time.Duration
	// Logger logs the server's own events. Default: slog.Default().
	Logger *slog.Logger
}

// Server serves the front of a tester and runs its Service. Create it with
// New; Start serves, Run serves and runs the Service until its context
// ends, Close shuts the HTTP server down.
type Server struct {
	svc      *orbital.Service
	page     *status.Status
	hook     *webhook.Webhook
	srv      *http.Server
	ln       net.Listener
	logger   *slog.Logger
	live     []func(context.Context) error
	ready    []func(context.Context) error
	shutdown time.Duration

	started  atomic.Bool // Start was called
	running  atomic.Bool // the scheduler runs (or RunOnce may be called): /readyz may say ready
	draining atomic.Bool
	serveErr chan error // the HTTP server's Serve error, once
	srvDone  chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New returns a Server configured by cfg. It listens on Config.Addr (unless
// Config.Listener is given) but serves nothing until Start or Run. It returns
// an error when Service is missing, the status page's config is invalid, a
// route of Handlers conflicts, or the address cannot be listened on.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("server: Config.Service is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		svc:      cfg.Service,
		logger:   logger,
		live:     append([]func(context.Context) error{func(context.Context) error { return cfg.Service.Health() }}, cfg.Live...),
		ready:    cfg.Ready,
		shutdown: or(cfg.ShutdownGrace, DefaultShutdownGrace),
		serveErr: make(chan error, 1),
		srvDone:  make(chan struct{}),
	}
	if hc := cfg.Webhook; hc.Logger != nil {
		if hc.Stats == nil {
			hc.Stats = cfg.Stats
		}
		s.hook = webhook.New(hc)
	}
	if !cfg.NoStatus {
		sc := cfg.Status
		sc.Service = cfg.Service
		if sc.Logger == nil {
			sc.Logger = logger
		}
		page, err := status.New(sc)
		if err != nil {
			return nil, fmt.Errorf("server: status page: %w", err)
		}
		s.page = page
	}
	mux, err := s.routes(cfg)
	if err != nil {
		return nil, err
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       or(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	s.ln = cfg.Listener
	if s.ln == nil {
		addr := cfg.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		// issue 14: bounded connections and accept errors retried instead of ending
		// Serve; idle time is left to the http.Server's timeouts.
		ln, err := netx.Listen("tcp", addr, netx.Config{IdleTimeout: -1, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("server: listen: %w", err)
		}
		s.ln = ln
	}
	return s, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// routes builds the mux.
func (s *Server) routes(cfg Config) (mux *http.ServeMux, err error) {
	mux = http.NewServeMux()
	if s.hook != nil {
		mux.Handle("/webhook", s.hook)
	}
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	if s.page != nil {
		mux.Handle("/", s.page)
	}
	defer func() {
		// ServeMux panics on a conflicting pattern: a configuration error.
		if p := recover(); p != nil {
			mux, err = nil, fmt.Errorf("server: Config.Handlers: %v", p)
		}
	}()
	for pattern, h := range cfg.Handlers {
		if reserved(pattern) {
			return nil, fmt.Errorf("server: Config.Handlers: %q would take a route of the front (/, /webhook, /metrics, /healthz, /readyz, the status API, /assets/)", pattern)
		}
		mux.Handle(pattern, h)
	}
	return mux, nil
}

// reserved reports whether a Handlers pattern could take one of the front's own routes: a
// pattern with a host, or one whose path is a built-in path, "/", "/{$}", a status API path
// or under /api/cases/ or /assets/ (a more specific pattern would win over the built-in one
// silently). Other /api/ paths (e2e's /api/faults) are free.
func reserved(pattern string) bool {
	p := pattern
	if _, rest, ok := strings.Cut(p, " "); ok { // "METHOD /path"
		p = strings.TrimSpace(rest)
	}
	if !strings.HasPrefix(p, "/") {
		return true // a host pattern ("example.com/healthz")
	}
	switch p {
	case "/", "/{$}", "/webhook", "/webhook/", "/metrics", "/healthz", "/readyz",
		"/api/", "/api/status", "/api/cases", "/api/runs", "/api/incidents":
		return true
	}
	return strings.HasPrefix(p, "/api/cases/") || strings.HasPrefix(p, "/assets/")
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the URL under which this process reaches its own server at
// path ("/webhook"): the listen address, with an unspecified host
// replaced by 127.0.0.1.
func (s *Server) URL(path string) string {
	host, port, _ := net.SplitHostPort(s.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// Status is the status page (nil with Config.NoStatus).
func (s *Server) Status() *status.Status { return s.page }

// Webhook is the /webhook handler (nil without Config.Webhook.Logger).
func (s *Server) Webhook() *webhook.Webhook { return s.hook }

// Start serves HTTP in the background and marks the server ready: a caller
// that runs cases itself (a release gate calling RunOnce) serves the
// webhook with Start and stops with Close. Calling it again does nothing.
func (s *Server) Start() {
	if !s.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(s.srvDone)
		err := s.srv.Serve(s.ln)
		if !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server failed", "err", err)
			s.serveErr <- err
		}
	}()
	s.running.Store(true)
	s.logger.Debug("serving", "addr", s.ln.Addr().String())
}

// Run serves (Start) and runs the Service's scheduler until ctx is done or
// the HTTP server fails, then drains: /readyz answers 503 at once, runs in
// flight get the Service's drain grace. It returns after the drain, with
// the HTTP server still up (Close stops it): whatever still needs the
// webhook (an embedded pipeline finishing its deliveries) stops in between.
// It returns an error wrapping ErrServe when the HTTP server failed, and the
// Service's error when its drain grace expired.
func (s *Server) Run(ctx context.Context) error {
	s.Start()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopDrain := context.AfterFunc(runCtx, func() { s.draining.Store(true) })
	defer stopDrain()
	runErr := make(chan error, 1)
	go func() { runErr <- s.svc.Run(runCtx) }()
	select {
	case err := <-runErr:
		s.draining.Store(true)
		if err != nil {
			s.logger.Warn("drain incomplete", "err", err)
		}
		return err
	case err := <-s.serveErr:
		stop() // without the webhook no run can pass
		s.draining.Store(true)
		<-runErr
		return fmt.Errorf("%w: %w", ErrServe, err)
	}
}

// SetDraining marks the server as draining (/readyz answers 503) without
// stopping anything: a caller about to stop marks it first.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Close shuts the HTTP server down within the shutdown grace (closing the
// connections left after it) and closes the listener. It is safe to call
// more than once; later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.draining.Store(true)
		if s.started.CompareAndSwap(false, true) { // never started: a later Start does nothing
			close(s.srvDone)
			s.closeErr = s.ln.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.srvDone
	})
	return s.closeErr
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, check := range s.live {
		if err := check(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
	}
	_, _ = io.WriteString(w, "ok\n")
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case s.draining.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "draining\n")
		return
	case !s.running.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "starting\n")
		return
	}
	for _, check := range s.ready {
		if err := check(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}
