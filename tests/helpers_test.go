package tests_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

const (
	writeKey = "tests-write-key"
	secret   = "tests-webhook-secret"
)

// stack is the example pipeline on an embedded Kafka broker, delivering to a
// webhook whose RouteLogger the Harness waits on: the embedded default of
// cmd/e2e, built in a test.
type stack struct {
	broker   *embedkafka.Broker
	pipeline *pipeline.Pipeline
	api      *httptest.Server
	hook     *httptest.Server
	waiter   *webhook.RouteLogger

	mu   sync.Mutex
	seen []string // "METHOD /path content-type auth" of every API request, the write key as <key>
}

// record wraps the API handler so that the test can see what clients sent.
func (s *stack) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := "no-basic"
		if u, _, ok := r.BasicAuth(); ok && u != "" {
			auth = "basic"
		}
		line := strings.Join([]string{r.Method, strings.ReplaceAll(r.URL.Path, writeKey, "<key>"), r.Header.Get("Content-Type"), auth}, " ")
		s.mu.Lock()
		s.seen = append(s.seen, line)
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// requests returns the API requests seen so far.
func (s *stack) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.Config.ReadTimeout = 10 * time.Second
	srv.Config.IdleTimeout = time.Minute
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// outputTopic is the stack pipeline's Kafka output topic, which the kafka suite reads.
const outputTopic = "events-processed"

// newStack starts a broker, a webhook that verifies the pipeline's
// signatures, and the pipeline with fast retries.
func newStack(t testing.TB) *stack {
	t.Helper()
	broker, err := embedkafka.Start(embedkafka.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("embedkafka.Start: %v", err)
	}
	t.Cleanup(broker.Close)

	s := &stack{broker: broker, waiter: webhook.NewRouteLogger(webhook.JSONField("messageId"))}
	mux := http.NewServeMux()
	mux.Handle("/webhook", webhook.New(webhook.Config{Logger: s.waiter, Secret: []byte(secret)}))
	s.hook = newServer(t, mux)

	p, err := pipeline.New(pipeline.Config{
		Brokers:           broker.Brokers(),
		WriteKeys:         []string{writeKey},
		Destinations:      []string{s.hook.URL + "/webhook"},
		DestinationSecret: []byte(secret),
		OutputTopic:       outputTopic,
		MaxAttempts:       3,
		BackoffMin:        time.Millisecond,
		BackoffMax:        5 * time.Millisecond,
		CommitInterval:    20 * time.Millisecond,
		ProduceTimeout:    5 * time.Second,
	})
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatalf("pipeline.Start: %v", err)
	}
	s.pipeline = p
	s.api = newServer(t, s.record(p.Handler()))
	t.Cleanup(func() { // runs before the servers' and broker's cleanups
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Logf("pipeline.Close: %v", err)
		}
	})
	return s
}

// harness returns a Harness for the stack with a short dedupe window.
func (s *stack) harness() *tests.Harness {
	return &tests.Harness{
		APIURL:        s.api.URL,
		WriteKey:      writeKey,
		Brokers:       s.broker.Brokers(),
		OutputTopic:   outputTopic,
		Waiter:        s.waiter,
		WebhookURL:    s.hook.URL + "/webhook",
		WebhookSecret: []byte(secret),
		RequireChrome: os.Getenv("ORBITAL_REQUIRE_CHROME") == "1",
		DedupeWindow:  500 * time.Millisecond,
		Logger:        quiet(),
	}
}

// setFaults parses spec and injects it into the pipeline.
func (s *stack) setFaults(t testing.TB, spec string) {
	t.Helper()
	f, err := pipeline.ParseFaults(spec)
	if err != nil {
		t.Fatalf("ParseFaults(%q): %v", spec, err)
	}
	s.pipeline.SetFaults(f)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runCases registers h's cases on a fresh Service with the given per-run
// timeout and runs those named in names once, concurrently. It returns the
// top-level result of each, by name.
func runCases(t testing.TB, h *tests.Harness, timeout time.Duration, e *stats.Engine, names ...string) map[string]orbital.Result {
	t.Helper()
	opts := []orbital.Option{
		orbital.WithTimeout(timeout),
		orbital.WithOutput(io.Discard),
		orbital.WithLogger(quiet()),
	}
	if e != nil {
		opts = append(opts, orbital.WithStats(e))
	}
	svc := orbital.New(opts...)
	if err := tests.Register(svc, h); err != nil {
		t.Fatalf("Register: %v", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	out := map[string]orbital.Result{}
	for _, r := range svc.RunOnce(ctx, func(name string) bool { return want[name] }) {
		if want[r.Case] {
			out[r.Case] = r
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			t.Fatalf("no result for case %q (registered: %v)", n, caseNames(svc.Cases()))
		}
	}
	return out
}

func caseNames(cases []orbital.TestCase) []string {
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	return names
}

// describe formats a result for a failure message.
func describe(r orbital.Result) string {
	var b strings.Builder
	b.WriteString(string(r.Outcome))
	if r.Error != "" {
		b.WriteString(" (" + r.Error + ")")
	}
	b.WriteString("\n" + r.Output)
	return b.String()
}
