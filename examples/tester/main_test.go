package main

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
)

// TestRun runs the tester once against the example pipeline: it passes on a
// healthy pipeline and fails, saying why, when the pipeline loses or
// duplicates the event.
func TestRun(t *testing.T) {
	broker, err := embedkafka.Start(embedkafka.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)

	// The pipeline needs the webhook's address before the tester listens on
	// it: take a free port, then let each run listen on it again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := ln.Addr().String()
	ln.Close()

	p, err := pipeline.New(pipeline.Config{
		Brokers:        broker.Brokers(),
		WriteKeys:      []string{"demo"},
		Destinations:   []string{"http://" + hookAddr + "/webhook"},
		BackoffMin:     time.Millisecond,
		BackoffMax:     5 * time.Millisecond,
		CommitInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		api.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = p.Close(cctx)
	})

	for _, tc := range []struct {
		faults string
		want   int
		output string
	}{
		{"", 0, "--- PASS: order-completed"},
		{"drop=1", 1, "not delivered within"},
		{"dup=1", 1, "delivered twice"},
		{"corrupt=1", 1, `want event "Order Completed"`},
	} {
		t.Run("faults="+tc.faults, func(t *testing.T) {
			f, err := pipeline.ParseFaults(tc.faults)
			if err != nil {
				t.Fatal(err)
			}
			p.SetFaults(f)
			ln, err := net.Listen("tcp", hookAddr)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cfg := config{api: api.URL, writeKey: "demo", period: time.Hour, timeout: 3 * time.Second, once: true}
			if got := run(ctx, cfg, ln, &out); got != tc.want {
				t.Errorf("run = %d, want %d; output:\n%s", got, tc.want, out.String())
			}
			if !strings.Contains(out.String(), tc.output) {
				t.Errorf("output lacks %q:\n%s", tc.output, out.String())
			}
		})
	}
}
