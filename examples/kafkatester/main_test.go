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
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/testsupport"
)

const topic = "order-confirmations"

// startOrders runs a broker with the output topic and the order service
// writing its confirmations there.
func startOrders(t *testing.T) (*orders.Service, string, []string) {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	svc, err := orders.New(orders.Config{Brokers: b.Brokers(), Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		api.Close()
		svc.Close()
	})
	return svc, api.URL, b.Brokers()
}

// TestRunOnce runs the tester as a gate (--once), each run with a new
// Kafka source: it passes on a healthy service and fails with orbital's
// message when the confirmation is lost or duplicated.
func TestRunOnce(t *testing.T) {
	svc, api, brokers := startOrders(t)
	for _, tc := range []struct {
		name   string
		faults orders.Faults
		want   int
		output []string
	}{
		{"healthy", orders.Faults{}, 0, []string{"--- PASS: order-confirmed-kafka", "confirmed at kafka://" + topic + "/"}},
		{"lost", orders.Faults{Drop: true}, 1, []string{"--- FAIL: order-confirmed-kafka", "order confirmation on " + topic + ": ", "not delivered within 3s"}},
		{"duplicate", orders.Faults{Duplicate: true}, 1, []string{"--- FAIL: order-confirmed-kafka", "confirmed twice"}},
		{"healthy again", orders.Faults{}, 0, []string{"--- PASS: order-confirmed-kafka"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc.SetFaults(tc.faults)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cfg := config{brokers: brokers, topic: topic, orders: api, period: time.Hour, timeout: 10 * time.Second, wait: 3 * time.Second, once: true}
			if got := run(t.Context(), cfg, ln, &out); got != tc.want {
				t.Errorf("run = %d, want %d; output:\n%s", got, tc.want, out.String())
			}
			for _, want := range tc.output {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "timed out") {
				t.Errorf("a run timed out; a lost confirmation must fail on its own wait:\n%s", out.String())
			}
		})
	}
}

// TestServe runs the tester as a service: the status page shows the case
// passing, /metrics has histogram buckets up to +Inf and the source's
// counters.
func TestServe(t *testing.T) {
	_, api, brokers := startOrders(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out testsupport.SyncBuffer
	done := make(chan int, 1)
	cfg := config{brokers: brokers, topic: topic, orders: api, period: 200 * time.Millisecond, timeout: 10 * time.Second, wait: 5 * time.Second}
	go func() { done <- run(ctx, cfg, ln, &out) }()

	testsupport.WaitForOutcome(t, base, "order-confirmed-kafka", "pass", 30*time.Second)
	text := testsupport.Get(t, base+"/metrics")
	for _, family := range []string{"orbital_delivery_latency_seconds", "orbital_run_duration_seconds"} {
		if !testsupport.HasInfBucket(text, family, "order-confirmed-kafka") {
			t.Errorf("/metrics has no %s_bucket{case=\"order-confirmed-kafka\",le=\"+Inf\"}:\n%s", family, text)
		}
	}
	for _, series := range []string{`orbital_kafkasource_received_total{topic="` + topic + `"}`, `orbital_webhook_matched_total`} {
		if !strings.Contains(text, "\n"+series+" ") {
			t.Errorf("/metrics has no %s:\n%s", series, text)
		}
	}
	if !strings.Contains(testsupport.Get(t, base+"/"), "order-confirmed-kafka") {
		t.Error("the status page does not show the case")
	}

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
