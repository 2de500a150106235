package main

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/orders"
	"github.com/orbital-e2e/orbital/internal/testsupport"
)

// startOrders runs the order service with its callback on hookAddr.
func startOrders(t *testing.T, hookAddr string) (*orders.Service, string) {
	t.Helper()
	svc, err := orders.New(orders.Config{CallbackURL: "http://" + hookAddr + "/webhook", Secret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		api.Close()
		svc.Close()
	})
	return svc, api.URL
}

// TestRunOnce runs the tester as a gate (--once) against the order service:
// it passes on a healthy service and fails with orbital's message when the
// confirmation is lost, duplicated or badly signed.
func TestRunOnce(t *testing.T) {
	hookAddr := testsupport.FreeAddr(t)
	svc, api := startOrders(t, hookAddr)
	for _, tc := range []struct {
		name    string
		faults  orders.Faults
		secret  string
		want    int
		output  string
		without string
	}{
		{"healthy", orders.Faults{}, "s3cret", 0, "--- PASS: order-confirmed", "FAIL"},
		{"drop", orders.Faults{Drop: true}, "s3cret", 1, "--- FAIL: order-confirmed", ""},
		{"duplicate", orders.Faults{Duplicate: true}, "s3cret", 1, "confirmed twice", "timed out"},
		{"wrong secret", orders.Faults{}, "other", 1, "order confirmation: ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc.SetFaults(tc.faults)
			ln, err := net.Listen("tcp", hookAddr)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cfg := config{orders: api, secret: tc.secret, period: time.Hour, timeout: 10 * time.Second, wait: 3 * time.Second, once: true}
			if got := run(t.Context(), cfg, ln, &out); got != tc.want {
				t.Errorf("run = %d, want %d; output:\n%s", got, tc.want, out.String())
			}
			if !strings.Contains(out.String(), tc.output) {
				t.Errorf("output lacks %q:\n%s", tc.output, out.String())
			}
			if tc.without != "" && strings.Contains(out.String(), tc.without) {
				t.Errorf("output has %q:\n%s", tc.without, out.String())
			}
			if tc.name == "drop" {
				// A lost confirmation is the test's own failure, said as
				// such, not a run that hit its timeout.
				if !strings.Contains(out.String(), "not delivered within 3s") || strings.Contains(out.String(), "timed out") {
					t.Errorf("a drop should fail with \"not delivered within 3s\", not a timeout:\n%s", out.String())
				}
			}
		})
	}
}

// TestServe runs the tester as a service: the status page shows the case
// passing and /metrics has histogram buckets up to +Inf.
func TestServe(t *testing.T) {
	hookAddr := testsupport.FreeAddr(t)
	_, api := startOrders(t, hookAddr)
	ln, err := net.Listen("tcp", hookAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out testsupport.SyncBuffer
	done := make(chan int, 1)
	cfg := config{orders: api, secret: "s3cret", period: 200 * time.Millisecond, timeout: 10 * time.Second, wait: 5 * time.Second}
	go func() { done <- run(ctx, cfg, ln, &out) }()

	base := "http://" + hookAddr
	testsupport.WaitForOutcome(t, base, "order-confirmed", "pass", 30*time.Second)
	text := testsupport.Get(t, base+"/metrics")
	for _, family := range []string{"orbital_delivery_latency_seconds", "orbital_run_duration_seconds"} {
		if !testsupport.HasInfBucket(text, family, "order-confirmed") {
			t.Errorf("/metrics has no %s_bucket{case=\"order-confirmed\",le=\"+Inf\"}:\n%s", family, text)
		}
	}
	if !strings.Contains(testsupport.Get(t, base+"/"), "order-confirmed") {
		t.Error("the status page does not show the case")
	}
	testsupport.Get(t, base+"/healthz")
	testsupport.Get(t, base+"/readyz")

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run = %d after SIGTERM, want 0; output:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not return after its context ended; output:\n%s", out.String())
	}
}
