package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/server"
	"github.com/orbital-e2e/orbital/webhook"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newServer(t *testing.T, modify func(*server.Config)) (*server.Server, *orbital.Service, *webhook.RouteLogger) {
	t.Helper()
	svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(quiet()), orbital.WithStartSpread(0))
	rl := webhook.NewRouteLogger(webhook.Header("X-Id"))
	cfg := server.Config{
		Service: svc,
		Webhook: webhook.Config{Logger: rl},
		Addr:    "127.0.0.1:0",
		Logger:  quiet(),
	}
	if modify != nil {
		modify(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, svc, rl
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNewValidates(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.Header("X-Id"))
	for _, cfg := range []server.Config{
		{Webhook: webhook.Config{Logger: rl}},
		{Service: orbital.New(), Webhook: webhook.Config{Logger: rl}, Addr: "not an address"},
		{Service: orbital.New(), Webhook: webhook.Config{Logger: rl}, Addr: "127.0.0.1:0",
			Handlers: map[string]http.Handler{"GET /healthz": http.NotFoundHandler()}},
		// More specific than a built-in route: ServeMux would let it win silently.
		{Service: orbital.New(), Webhook: webhook.Config{Logger: rl}, Addr: "127.0.0.1:0",
			Handlers: map[string]http.Handler{"GET /{$}": http.NotFoundHandler()}},
		{Service: orbital.New(), Webhook: webhook.Config{Logger: rl}, Addr: "127.0.0.1:0",
			Handlers: map[string]http.Handler{"HEAD /readyz": http.NotFoundHandler()}},
		{Service: orbital.New(), Webhook: webhook.Config{Logger: rl}, Addr: "127.0.0.1:0",
			Handlers: map[string]http.Handler{"localhost/healthz": http.NotFoundHandler()}},
	} {
		if srv, err := server.New(cfg); err == nil {
			srv.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// The front serves the webhook into the waiter, the page, health and readiness through a
// server's whole life: starting, ready, draining.
func TestLifecycle(t *testing.T) {
	var live error
	srv, svc, rl := newServer(t, func(c *server.Config) {
		c.Live = append(c.Live, func(context.Context) error { return live })
		c.Handlers = map[string]http.Handler{"GET /extra": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "extra") })}
	})
	ran := make(chan struct{}, 100)
	if err := svc.Register(orbital.TestCase{Name: "c", Period: 10 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
		select {
		case ran <- struct{}{}:
		default:
		}
	}}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL("")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler did not run the case")
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz while running = %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, base+"/extra"); code != 200 || body != "extra" {
		t.Errorf("/extra = %d %q", code, body)
	}
	if code, body := get(t, base+"/api/cases"); code != 200 || !strings.Contains(body, `"name":"c"`) {
		t.Errorf("/api/cases = %d %s", code, body)
	}
	if err := rl.Sent("k1"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader([]byte(`{}`)))
	req.Header.Set("X-Id", "k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := rl.Wait(wctx, "k1"); err != nil {
		t.Errorf("delivery not recorded in the waiter: %v", err)
	}

	live = errors.New("broker gone")
	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body, "broker gone") {
		t.Errorf("/healthz with a failing check = %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// After Run the front still serves, draining, until Close.
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/readyz after Run = %d %q", code, body)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := http.Get(base + "/readyz"); err == nil {
		t.Error("still serving after Close")
	}
}

// Close before Start leaves nothing to serve: a later Start does nothing.
func TestCloseBeforeStart(t *testing.T) {
	srv, _, _ := newServer(t, nil)
	url := srv.URL("/healthz")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if _, err := (&http.Client{Timeout: time.Second}).Get(url); err == nil {
		t.Error("serving after Close")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestReadyChecks(t *testing.T) {
	var notReady error = errors.New("kafka unreachable")
	srv, _, _ := newServer(t, func(c *server.Config) {
		c.Ready = append(c.Ready, func(context.Context) error { return notReady })
	})
	srv.Start()
	if code, body := get(t, srv.URL("/readyz")); code != 503 || !strings.Contains(body, "kafka unreachable") {
		t.Errorf("/readyz with a failing check = %d %q", code, body)
	}
	notReady = nil
	if code, _ := get(t, srv.URL("/readyz")); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	if code, _ := get(t, srv.URL("/metrics")); code != 404 {
		t.Errorf("/metrics without Config.Metrics = %d, want 404", code)
	}
}
