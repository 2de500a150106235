package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/metrics"
	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// The secrets of every stack: distinctive, so a leak is found by a substring
// search.
const (
	writeKey      = "wk-RELIABILITY-5e1f0c77"
	webhookSecret = "whsec-RELIABILITY-a9d2e4"
	adminToken    = "adm-RELIABILITY-33b7c1"
)

// waitLong bounds anything the tests wait for.
const waitLong = 60 * time.Second

type syncBuffer = testsupport.SyncBuffer

// waitUntil polls cond until it holds or d passes; it fails t on timeout.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// recorder is an orbital.Reporter that keeps every result and lets a test
// block until a result it wants arrives. It is safe for concurrent use.
type recorder struct {
	mu      sync.Mutex
	results []orbital.Result
	changed chan struct{}
	max     int // keep at most this many (0: all); older ones are counted only
	dropped int
	count   map[string]int // "case outcome" → count
}

func newRecorder(max int) *recorder {
	return &recorder{changed: make(chan struct{}), max: max, count: map[string]int{}}
}

func (r *recorder) Report(res orbital.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
	if r.max > 0 && len(r.results) > r.max {
		n := len(r.results) - r.max
		r.results = append(r.results[:0], r.results[n:]...)
		r.dropped += n
	}
	r.count[res.Case+" "+string(res.Outcome)]++
	close(r.changed)
	r.changed = make(chan struct{})
}

// mark returns a position: waitFor(mark, ...) only looks at later results.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped + len(r.results)
}

// count returns how many results of caseName had outcome.
func (r *recorder) n(caseName string, outcome orbital.Outcome) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[caseName+" "+string(outcome)]
}

// all returns a copy of the kept results.
func (r *recorder) all() []orbital.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]orbital.Result(nil), r.results...)
}

// waitFor blocks until a result after position from satisfies pred, and
// returns it; it fails t after d.
func (r *recorder) waitFor(t testing.TB, from int, d time.Duration, what string, pred func(orbital.Result) bool) orbital.Result {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for i := max(from-r.dropped, 0); i < len(r.results); i++ {
			if pred(r.results[i]) {
				res := r.results[i]
				r.mu.Unlock()
				return res
			}
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("timed out after %s waiting for %s; last results:\n%s", d, what, r.tail(5))
		}
	}
}

func (r *recorder) tail(n int) string {
	res := r.all()
	var b strings.Builder
	for _, x := range res[max(len(res)-n, 0):] {
		b.WriteString("  " + x.Case + " " + string(x.Outcome) + ": " + x.Error + "\n")
	}
	return b.String()
}

func passed(name string) func(orbital.Result) bool {
	return func(r orbital.Result) bool { return r.Case == name && r.Outcome == orbital.Pass }
}

func failedWith(name, reason string) func(orbital.Result) bool {
	return func(r orbital.Result) bool {
		return r.Case == name && r.Outcome == orbital.Fail && strings.Contains(r.Error, reason)
	}
}

// tracker records the messageIds the tracking API acknowledged (200) and
// those delivered to the webhook, to prove that no acknowledged event is
// lost. It is safe for concurrent use.
type tracker struct {
	mu        sync.Mutex
	acked     map[string]bool
	delivered map[string]bool
}

func newTracker() *tracker {
	return &tracker{acked: map[string]bool{}, delivered: map[string]bool{}}
}

// api wraps the tracking API: every messageId of a request answered 200 is
// recorded as acknowledged.
func (tr *tracker) api(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, pipeline.MaxBatchBytes+1))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status != http.StatusOK || !strings.HasPrefix(r.URL.Path, "/v1/") {
			return
		}
		var ev struct {
			MessageID string `json:"messageId"`
			Batch     []struct {
				MessageID string `json:"messageId"`
			} `json:"batch"`
		}
		_ = json.Unmarshal(body, &ev)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if ev.MessageID != "" {
			tr.acked[ev.MessageID] = true
		}
		for _, b := range ev.Batch {
			if b.MessageID != "" {
				tr.acked[b.MessageID] = true
			}
		}
	})
}

// logger wraps the webhook's Logger: every delivered messageId is recorded.
func (tr *tracker) logger(next webhook.Logger) webhook.Logger { return teeLogger{tr, next} }

type teeLogger struct {
	tr   *tracker
	next webhook.Logger
}

func (l teeLogger) Record(r webhook.Request) {
	if id := webhook.JSONField("messageId")(r); id != "" {
		l.tr.mu.Lock()
		l.tr.delivered[id] = true
		l.tr.mu.Unlock()
	}
	l.next.Record(r)
}

// missing returns the acknowledged messageIds not delivered (yet), and how
// many were acknowledged.
func (tr *tracker) missing() (missing []string, acked int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for id := range tr.acked {
		if !tr.delivered[id] {
			missing = append(missing, id)
		}
	}
	return missing, len(tr.acked)
}

// requireNoneLost waits until every acknowledged event was delivered.
func (tr *tracker) requireNoneLost(t testing.TB, d time.Duration) int {
	t.Helper()
	var miss []string
	var acked int
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		miss, acked = tr.missing()
		if len(miss) == 0 {
			return acked
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events not delivered within %s, e.g. %v", len(miss), acked, d, miss[:min(len(miss), 5)])
		}
		<-tick.C
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// newServer returns a server with every timeout set, as the binaries have.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
}

// server is an HTTP server on a fixed loopback address that a test can take
// down (connections refused) and bring back up on the same address.
type server struct {
	t    testing.TB
	addr string
	h    http.Handler

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func startServer(t testing.TB, h http.Handler) *server {
	t.Helper()
	s := &server{t: t, addr: "127.0.0.1:0", h: h}
	s.up()
	t.Cleanup(s.down)
	return s
}

func (s *server) URL() string { return "http://" + s.addr }

// up listens on the server's address again, retrying while the port is
// still being released.
func (s *server) up() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	var ln net.Listener
	waitUntil(s.t, 10*time.Second, "listening on "+s.addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	s.addr = ln.Addr().String()
	s.srv = newServer(s.h)
	s.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(ln)
	}(s.srv, s.done)
}

// down closes the listener and every connection.
func (s *server) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.done
	s.srv = nil
}

// stackConfig adjusts a stack.
type stackConfig struct {
	persistent  bool                                        // broker keeps its data in a directory (restartable)
	logLevel    slog.Level                                  // level of the captured logs
	maxAttempts int                                         // pipeline delivery attempts (default 100: outages are absorbed)
	backoffMax  time.Duration                               // pipeline backoff cap (default 500ms)
	dedupe      int                                         // pipeline dedupe window (default: the pipeline's)
	discardLogs bool                                        // no captured logs (a soak would keep them all)
	noTracker   bool                                        // no acknowledged/delivered bookkeeping (it grows with every event)
	retention   time.Duration                               // embedded Kafka retention (default: embedkafka's)
	delivery    *http.Client                                // the pipeline's delivery client (default: the pipeline's)
	hookWrap    func(s *stack, h http.Handler) http.Handler // wraps the webhook handler (an attacker in the path)
}

// stack is the embedded default, in-process: embedded Kafka, the example
// pipeline serving the tracking API, the webhook with a secret feeding a
// RouteLogger, and the metrics of all of them on one Prometheus handler.
type stack struct {
	t        testing.TB
	cfg      stackConfig
	dataDir  string
	logs     *syncBuffer
	logger   *slog.Logger
	prom     *prometheus.Handler
	eng      *stats.Engine // prefix orbital
	rl       *webhook.RouteLogger
	tracker  *tracker
	hook     *server // the webhook the pipeline delivers to
	api      *server // the tracking API
	pipeline *pipeline.Pipeline

	mu     sync.Mutex
	broker *embedkafka.Broker
}

func newStack(t testing.TB, cfg stackConfig) *stack {
	t.Helper()
	if cfg.maxAttempts == 0 {
		cfg.maxAttempts = 100
	}
	if cfg.backoffMax == 0 {
		cfg.backoffMax = 500 * time.Millisecond
	}
	s := &stack{t: t, cfg: cfg, logs: &syncBuffer{}, tracker: newTracker()}
	s.logger = slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.discardLogs {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.prom = metrics.NewHandler()
	s.eng = stats.NewEngine("orbital", s.prom)
	kcfg := embedkafka.Config{Topics: []string{"events"}, Retention: cfg.retention, Logger: s.logger.With("component", "kafka")}
	if cfg.persistent {
		s.dataDir = t.TempDir()
		kcfg.DataDir = s.dataDir
	}
	b, err := embedkafka.Start(kcfg)
	if err != nil {
		t.Fatalf("embedkafka: %v", err)
	}
	s.broker = b
	t.Cleanup(func() { s.kafka().Close() })

	s.rl = webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(s.eng))
	var hookLogger webhook.Logger = s.rl
	var apiHandler = func(h http.Handler) http.Handler { return h }
	if !cfg.noTracker {
		hookLogger = s.tracker.logger(s.rl)
		apiHandler = s.tracker.api
	}
	var hook http.Handler = webhook.New(webhook.Config{
		Logger: hookLogger,
		Secret: []byte(webhookSecret),
		Stats:  s.eng,
	})
	if cfg.hookWrap != nil {
		hook = cfg.hookWrap(s, hook)
	}
	s.hook = startServer(t, hook)

	p, err := pipeline.New(pipeline.Config{
		Brokers:           b.Brokers(),
		WriteKeys:         []string{writeKey},
		Destinations:      []string{s.hook.URL() + "/webhook"},
		DestinationSecret: []byte(webhookSecret),
		AdminToken:        adminToken,
		MaxAttempts:       cfg.maxAttempts,
		BackoffMin:        50 * time.Millisecond,
		BackoffMax:        cfg.backoffMax,
		DedupeWindow:      cfg.dedupe,
		HTTPClient:        cfg.delivery,
		Stats:             stats.NewEngine("pipeline", s.prom),
		Logger:            s.logger.With("component", "pipeline"),
	})
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	s.pipeline = p
	s.api = startServer(t, apiHandler(p.Handler()))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatalf("pipeline.Start: %v", err)
	}
	// Cleanups run last-in-first-out: the pipeline closes before the
	// servers and the broker.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return s
}

func (s *stack) kafka() *embedkafka.Broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broker
}

// stopKafka closes the broker.
func (s *stack) stopKafka() { s.kafka().Close() }

// restartKafka starts a new broker on the old one's address and data.
func (s *stack) restartKafka() {
	s.t.Helper()
	addr := s.kafka().Addr()
	var b *embedkafka.Broker
	waitUntil(s.t, 10*time.Second, "a broker on "+addr, func() bool {
		var err error
		b, err = embedkafka.Start(embedkafka.Config{Addr: addr, DataDir: s.dataDir, Topics: []string{"events"}, Retention: s.cfg.retention, Logger: s.logger.With("component", "kafka")})
		return err == nil
	})
	s.mu.Lock()
	s.broker = b
	s.mu.Unlock()
}

// harness returns the suites' Harness for the stack.
func (s *stack) harness() *tests.Harness {
	return &tests.Harness{
		APIURL:        s.api.URL(),
		WriteKey:      writeKey,
		Waiter:        s.rl,
		WebhookURL:    s.hook.URL() + "/webhook",
		WebhookSecret: []byte(webhookSecret),
		DedupeWindow:  100 * time.Millisecond,
		Logger:        s.logger.With("component", "tests"),
	}
}

// suite returns the named cases of h with period and timeout set.
func suite(t testing.TB, h *tests.Harness, period, timeout time.Duration, names ...string) []orbital.TestCase {
	t.Helper()
	var out []orbital.TestCase
	for _, tc := range h.Cases() {
		for _, n := range names {
			if tc.Name == n {
				tc.Period, tc.Timeout = period, timeout
				out = append(out, tc)
			}
		}
	}
	if len(out) != len(names) {
		t.Fatalf("cases %v: found %d", names, len(out))
	}
	return out
}

// running is an orbital.Service going in the background, owned by a test.
type running struct {
	svc    *orbital.Service
	rec    *recorder
	output *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startService registers cases on a Service logging into s's logs and runs
// it until the test ends; the test then checks that it drained cleanly.
func (s *stack) startService(t testing.TB, keep int, cases ...orbital.TestCase) *running {
	t.Helper()
	return startService(t, s.logger, s.eng, keep, cases...)
}

func startService(t testing.TB, logger *slog.Logger, eng *stats.Engine, keep int, cases ...orbital.TestCase) *running {
	t.Helper()
	r := &running{rec: newRecorder(keep), output: &syncBuffer{}, done: make(chan error, 1)}
	r.svc = orbital.New(
		orbital.WithLogger(logger),
		orbital.WithStats(eng),
		orbital.WithOutput(r.output),
		orbital.WithReporter(r.rec),
		orbital.WithStartSpread(0),
		orbital.WithDrainGrace(5*time.Second),
	)
	for _, tc := range cases {
		if err := r.svc.Register(tc); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.svc.Run(ctx) }()
	t.Cleanup(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Service.Run after the drain: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Service.Run did not return within 15s of its context ending")
		}
	})
	return r
}

// requireUp fails t if the service's Run returned.
func (r *running) requireUp(t testing.TB) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Service.Run returned while it should keep running: %v", err)
	default:
	}
}

// usage is a sample of the process's resources.
type usage struct {
	goroutines int
	heap       uint64         // HeapAlloc after a GC
	fds        int            // open file descriptors, -1 when unknown
	byCreator  map[string]int // goroutines by the function that started them
}

func sample() usage {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, fds: openFDs(), byCreator: goroutinesByCreator()}
}

// goroutinesByCreator counts the process's goroutines by the function that
// started them ("created by" in a stack dump), to tell what grew.
func goroutinesByCreator() map[string]int {
	m := map[string]int{}
	for _, g := range strings.Split(allStacks(), "\n\n") {
		creator := "(main or unknown)"
		if _, after, ok := strings.Cut(g, "\ncreated by "); ok {
			creator, _, _ = strings.Cut(after, "\n")
			creator, _, _ = strings.Cut(creator, " in goroutine")
		}
		m[creator]++
	}
	return m
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// settleGoroutines waits until the goroutine count (appGoroutines) is at most
// limit; it returns the last count, after d at the latest.
func settleGoroutines(limit int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := appGoroutines()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond) // polling a count with a deadline
	}
}

// appGoroutines counts the process's goroutines except those of the embedded
// Kafka broker and of the Kafka clients: they come and go with fetches,
// reconnects and rebalances whatever the test does, and would make a leak
// check flaky. Goroutines of HTTP servers, handlers and tests all count.
func appGoroutines() int {
	count := 0
	for _, g := range strings.Split(allStacks(), "\n\n") {
		if strings.Contains(g, "franz-go/pkg/kfake") || strings.Contains(g, "segmentio/kafka-go") {
			continue
		}
		count++
	}
	return count
}
