package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/logging"
	"github.com/orbital-e2e/orbital/internal/metrics"
	"github.com/orbital-e2e/orbital/internal/netx"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
	stats "github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/datadog"
)

// Settings of the embedded pipeline: retries quick enough that dest5xx=0.3 is absorbed well
// within a case timeout (10 attempts: all fail with probability 0.3^10 ≈ 6e-6), and a
// backoff long enough that a retried delivery visibly adds latency.
const (
	embeddedMaxAttempts = 10
	embeddedBackoffMin  = 100 * time.Millisecond
	embeddedBackoffMax  = time.Second
	embeddedStartup     = time.Minute      // bound on starting the broker and pipeline
	embeddedSpread      = 2 * time.Second  // start spread of serve on the embedded default
	shutdownGrace       = 5 * time.Second  // bound on closing servers and the pipeline
	pipelineCloseGrace  = 2 * time.Second  // in-flight deliveries of the embedded pipeline
	statsdFlushInterval = 10 * time.Second // how often buffered statsd metrics are sent
)

// newLogger builds the process logger on w from the options.
func newLogger(w io.Writer, o *options) *slog.Logger {
	l, err := logging.New(w, o.logFormat, o.logLevel, logging.IsTerminal(w))
	if err != nil { // validated in parse; keep a working logger regardless
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return l
}

// httpServer returns a server with every timeout set. WriteTimeout bounds a response; the
// longest we serve is a manual run through the status page's POST, bounded by runTimeout.
func httpServer(h http.Handler, logger *slog.Logger, runTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      runTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// metricsSink is the stats/v4 handler of the process: Prometheus for /metrics, plus an
// optional Datadog/statsd client.
type metricsSink struct {
	prom    http.Handler // /metrics: Prometheus text without sample timestamps
	handler stats.Handler
	dd      *datadog.Client

	stop chan struct{}
	wg   sync.WaitGroup
}

func newMetricsSink(statsdAddr string) *metricsSink {
	prom := metrics.NewHandler()
	m := &metricsSink{prom: metrics.Exposition(prom), handler: prom, stop: make(chan struct{})}
	if statsdAddr != "" {
		m.dd = datadog.NewClientWith(datadog.ClientConfig{Address: statsdAddr})
		m.handler = stats.MultiHandler(prom, m.dd)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			t := time.NewTicker(statsdFlushInterval)
			defer t.Stop()
			for {
				select {
				case <-m.stop:
					return
				case <-t.C:
					m.dd.Flush()
				}
			}
		}()
	}
	return m
}

// Close stops the flusher and sends what the statsd client still buffers.
func (m *metricsSink) Close() {
	close(m.stop)
	m.wg.Wait()
	if m.dd != nil {
		_ = m.dd.Close()
	}
}

// target is the pipeline under test: either the embedded one this process started, or the
// external one of --api.
type target struct {
	apiURL     string
	writeKey   string
	secret     []byte
	brokers    []string
	webhookURL string
	embedded   bool

	broker   *embedkafka.Broker
	pipeline *pipeline.Pipeline
	srv      *http.Server
	srvDone  chan struct{}
}

// name is the target as the status page shows it.
func (t *target) name() string {
	if t.embedded {
		return "embedded"
	}
	return t.apiURL
}

// randomSecret returns 16 random bytes, hex-encoded.
func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// localURL returns the URL under which this process reaches its own listener ln at path.
func localURL(ln net.Listener, path string) string {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// newTarget describes the pipeline under test; with no --api it starts the embedded broker and
// pipeline, delivering to ownWebhook. The embedded pipeline's metrics go to h with the prefix
// "pipeline". Close the target when done.
func newTarget(ctx context.Context, o *options, ownWebhook string, h stats.Handler, logger *slog.Logger) (*target, error) {
	t := &target{
		apiURL:     strings.TrimRight(o.api, "/"),
		writeKey:   o.writeKey,
		secret:     []byte(o.webhookSecret),
		brokers:    o.brokersList,
		webhookURL: o.webhookURL,
	}
	if o.api != "" {
		if len(t.secret) == 0 {
			logger.Warn("no --webhook-secret: deliveries are accepted without verifying their signature")
		}
		return t, nil
	}
	t.embedded = true
	if t.writeKey == "" {
		t.writeKey = randomSecret()
	}
	if len(t.secret) == 0 {
		t.secret = []byte(randomSecret())
	}
	if t.webhookURL == "" {
		t.webhookURL = ownWebhook
	}
	ctx, cancel := context.WithTimeout(ctx, embeddedStartup)
	defer cancel()
	// The embedded pipeline and broker are plumbing: only their warnings and errors are
	// logged, unless --log-level is debug.
	quiet := slog.New(atLeast{logger.Handler(), slog.LevelWarn})
	plog := quiet.With("component", "pipeline")
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{o.kafkaTopic}, Logger: quiet.With("component", "kafka")})
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	t.broker = broker
	t.brokers = broker.Brokers()
	p, err := pipeline.New(pipeline.Config{
		Brokers:           broker.Brokers(),
		Topic:             o.kafkaTopic,
		WriteKeys:         []string{t.writeKey},
		Destinations:      []string{t.webhookURL},
		DestinationSecret: t.secret,
		Signature:         o.sigScheme.String(), // issue 14: the same scheme as our webhook
		Faults:            o.faultSpec,
		MaxAttempts:       embeddedMaxAttempts,
		BackoffMin:        embeddedBackoffMin,
		BackoffMax:        embeddedBackoffMax,
		Stats:             stats.NewEngine("pipeline", h),
		Logger:            plog,
	})
	if err != nil {
		broker.Close()
		return nil, fmt.Errorf("embedded pipeline: %w", err)
	}
	t.pipeline = p
	ln, err := netx.Listen("tcp", "127.0.0.1:0", netx.Config{Logger: plog}) // issue 14: bounded conns, idle timeout, accept errors retried
	if err != nil {
		broker.Close()
		return nil, fmt.Errorf("embedded pipeline: %w", err)
	}
	t.apiURL = localURL(ln, "")
	t.srv = httpServer(p.Handler(), plog, 0)
	t.srvDone = make(chan struct{})
	go func() {
		defer close(t.srvDone)
		if err := t.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			plog.Error("embedded pipeline server failed", "err", err)
		}
	}()
	if err := p.Start(ctx); err != nil {
		t.Close(context.Background(), logger)
		return nil, fmt.Errorf("embedded pipeline: start: %w", err)
	}
	logger.Info("embedded pipeline started", "api", t.apiURL, "kafka", broker.Addr(), "destination", t.webhookURL, "faults", o.faultSpec.String())
	return t, nil
}

// atLeast is a slog.Handler that drops records below min unless the wrapped handler is at
// debug level.
type atLeast struct {
	slog.Handler
	min slog.Level
}

func (a atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	if a.Handler.Enabled(ctx, slog.LevelDebug) {
		return true
	}
	return l >= a.min && a.Handler.Enabled(ctx, l)
}

func (a atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{a.Handler.WithAttrs(attrs), a.min}
}

func (a atLeast) WithGroup(name string) slog.Handler {
	return atLeast{a.Handler.WithGroup(name), a.min}
}

// Close stops the embedded pipeline, its server and broker (nothing for an external target).
// In-flight deliveries get pipelineCloseGrace to finish.
func (t *target) Close(ctx context.Context, logger *slog.Logger) {
	if t.pipeline != nil {
		cctx, cancel := context.WithTimeout(ctx, pipelineCloseGrace)
		if err := t.pipeline.Close(cctx); err != nil {
			logger.Debug("embedded pipeline closed with deliveries abandoned", "err", err)
		}
		cancel()
	}
	if t.srv != nil {
		cctx, cancel := context.WithTimeout(ctx, shutdownGrace)
		if err := t.srv.Shutdown(cctx); err != nil {
			_ = t.srv.Close()
		}
		cancel()
		<-t.srvDone
	}
	if t.broker != nil {
		t.broker.Close()
	}
}

// harness returns the suites' Harness for t.
func (t *target) harness(o *options, rl *webhook.RouteLogger, logger *slog.Logger) *tests.Harness {
	return &tests.Harness{
		APIURL:        t.apiURL,
		WriteKey:      t.writeKey,
		Brokers:       t.brokers,
		Topic:         o.kafkaTopic,
		Waiter:        rl,
		WebhookURL:    t.webhookURL,
		WebhookSecret: t.secret,
		ChromePath:    o.chromePath,
		RequireChrome: o.requireChrome,
		Logger:        logger,
	}
}

// selectCases returns the cases to register: h's suites with the overrides applied, the
// disabled ones and those --run does not match left out. It returns a usage error when an
// override names an unknown case or nothing is selected.
func selectCases(o *options, h *tests.Harness) ([]orbital.TestCase, error) {
	// Every case name that may exist, whatever the brokers: an override for the kafka case is
	// not an error merely because this run has no brokers.
	all := *h
	if len(all.Brokers) == 0 {
		all.Brokers = []string{"127.0.0.1:9092"}
	}
	var known []string
	for _, tc := range all.Cases() {
		known = append(known, tc.Name)
	}
	if err := o.overrides.Check(known); err != nil {
		return nil, usageError{err}
	}
	var out []orbital.TestCase
	for _, tc := range o.overrides.Apply(h.Cases()) {
		if o.runRE.MatchString(tc.Name) {
			out = append(out, tc)
		}
	}
	if len(out) == 0 {
		return nil, usagef("no case selected (--run %q, cases: %s)", o.run, strings.Join(known, ", "))
	}
	return out, nil
}

// webhookMux is the HTTP surface shared by serve and gate: /webhook, /metrics, /healthz and
// /readyz (503 unless ready is set, and while draining is set).
func webhookMux(wh http.Handler, prom http.Handler, ready, draining *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/webhook", wh)
	mux.Handle("GET /metrics", prom)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case draining.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining\n")
		case !ready.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "starting\n")
		default:
			_, _ = io.WriteString(w, "ready\n")
		}
	})
	return mux
}

// listen opens the --addr listener; failing to is a configuration error.
func listen(addr string) (net.Listener, error) {
	// issue 14: bounded conns, accept errors retried. Idle time is bounded by the http.Server's
	// timeouts (a manual run's POST may stay quiet for its whole run timeout), not by netx.
	ln, err := netx.Listen("tcp", addr, netx.Config{IdleTimeout: -1})
	if err != nil {
		return nil, usagef("cannot listen on --addr: %w", err)
	}
	return ln, nil
}
