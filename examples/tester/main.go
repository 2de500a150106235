// Command tester shows how to build your own end-to-end service from the
// orbital, webhook, orbital/metrics and orbital/server packages, with one
// test of your own: it posts an "Order Completed" event to a pipeline's
// tracking API and waits for the pipeline to deliver it back to this
// program's /webhook. It serves /webhook, /metrics, /healthz, /readyz and
// the status page at /.
//
//	go run ./examples/cmd/pipeline --write-key demo --destination http://127.0.0.1:9090/webhook
//	go run ./examples/tester --api http://127.0.0.1:8081 --write-key demo --once
//
// Without --once it runs the test every --period until interrupted.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/orbital-e2e/orbital/orbital/server"
	"github.com/orbital-e2e/orbital/webhook"
	"github.com/segmentio/stats/v4"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("tester", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address of /webhook (the pipeline's destination)")
	cfg := config{}
	fs.StringVar(&cfg.api, "api", "http://127.0.0.1:8081", "tracking API base URL")
	fs.StringVar(&cfg.writeKey, "write-key", "demo", "tracking API write key")
	fs.DurationVar(&cfg.period, "period", 10*time.Second, "how often the test runs")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long one run may take")
	fs.BoolVar(&cfg.once, "once", false, "run the test once; exit 0 if it passed, 1 if not")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(run(ctx, cfg, ln, os.Stderr))
}

type config struct {
	api, writeKey string
	period        time.Duration
	timeout       time.Duration
	once          bool
}

// run serves the front (webhook, /metrics, health, status page) on ln and runs the test,
// once or on its period until ctx ends.
func run(ctx context.Context, cfg config, ln net.Listener, out io.Writer) int {
	// 1. Metrics and the waiter: deliveries are matched to waiting tests by messageId.
	prom := metrics.NewHandler()
	eng := stats.NewEngine("orbital", prom)
	waiter := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))

	// 2. The service, with our test registered on it.
	svc := orbital.New(orbital.WithOutput(out), orbital.WithTimeout(cfg.timeout), orbital.WithStats(eng))
	if err := svc.Register(orbital.TestCase{Name: "order-completed", Period: cfg.period, Func: orderCompleted(cfg, waiter)}); err != nil {
		fmt.Fprintln(out, err)
		return 2
	}

	// 3. One call for the front: /webhook, /metrics, /healthz, /readyz and the status page.
	srv, err := server.New(server.Config{Service: svc, Webhook: webhook.Config{Logger: waiter}, Stats: eng, Metrics: prom, Listener: ln})
	if err != nil {
		fmt.Fprintln(out, err)
		return 2
	}
	defer srv.Close()
	if !cfg.once {
		if err := srv.Run(ctx); err != nil { // until SIGTERM, then drain
			fmt.Fprintln(out, err)
			return 1
		}
		return 0
	}
	srv.Start()
	for _, r := range svc.RunOnce(ctx, nil) {
		if r.Outcome == orbital.Fail {
			return 1
		}
	}
	return 0
}

// orderCompleted is the test: send an event whose messageId is the run's
// trace id, wait for its delivery, check it, record the latency.
func orderCompleted(cfg config, waiter *webhook.RouteLogger) orbital.TestFunc {
	return func(ctx context.Context, o *orbital.O) {
		id := o.TraceID()
		if err := waiter.Sent(id); err != nil { // before sending: never miss a fast delivery
			o.Fatal(err)
		}
		o.Cleanup(func() { waiter.Delete(id) })

		body, _ := json.Marshal(map[string]any{ // a map of strings always encodes
			"type": "track", "event": "Order Completed", "messageId": id, "userId": "tester",
			"properties": map[string]any{"orderId": id, "total": 42.5},
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.api+"/v1/track", bytes.NewReader(body))
		if err != nil {
			o.Fatal(err)
		}
		req.SetBasicAuth(cfg.writeKey, "")
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			o.Fatalf("messageId %s: send: %v", id, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			o.Fatalf("messageId %s: the API answered %s", id, resp.Status)
		}

		got, err := waiter.WaitFor(ctx, id, cfg.timeout*9/10) // fails with orbital's message, not a timeout
		if err != nil {
			o.Fatalf("messageId %s: %v", id, err)
		}
		o.Measure(orbital.DeliveryLatency, got.ReceivedAt.Sub(start))
		var ev struct {
			Event      string `json:"event"`
			Processed  bool   `json:"processed"`
			Properties struct {
				OrderID string `json:"orderId"`
			} `json:"properties"`
		}
		if err := json.Unmarshal([]byte(got.Body), &ev); err != nil {
			o.Fatalf("messageId %s: delivery is not JSON: %v", id, err)
		}
		if ev.Event != "Order Completed" || !ev.Processed || ev.Properties.OrderID != id {
			o.Errorf("messageId %s: delivered %+v, want event \"Order Completed\", processed, orderId %s", id, ev, id)
		}
		if err := waiter.WaitNone(ctx, id, time.Second); errors.Is(err, webhook.ErrUnexpectedDelivery) {
			o.Errorf("messageId %s delivered twice", id)
		} else if err != nil {
			o.Errorf("messageId %s: watching for a second delivery: %v", id, err)
		}
	}
}
