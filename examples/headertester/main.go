// Command headertester is a tester for a service that is not Segment-shaped:
// the order service of examples/orders, which accepts POST /orders and
// confirms each order by calling a webhook with the order id in the
// X-Order-Id header. The test places an order whose id is the run's trace
// id, waits for its confirmation on this program's /webhook (matched by that
// header), checks it, and checks that it came exactly once.
//
//	go run ./examples/cmd/orders --callback http://127.0.0.1:9090/webhook --secret demo &
//	go run ./examples/headertester --orders http://127.0.0.1:8082 --secret demo --once
//
// Without --once it runs the test every --period and serves the status page
// at /, /metrics, /healthz and /readyz on --addr until interrupted.
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

type config struct {
	orders, secret        string
	period, timeout, wait time.Duration
	once                  bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	fs := flag.NewFlagSet("headertester", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address: /webhook (the service's callback), /metrics, status page")
	fs.StringVar(&cfg.orders, "orders", "http://127.0.0.1:8082", "order service base URL")
	fs.StringVar(&cfg.secret, "secret", os.Getenv("ORDERS_SECRET"), "HMAC key of the callbacks' Standard Webhooks signature (env ORDERS_SECRET)")
	fs.DurationVar(&cfg.period, "period", 10*time.Second, "how often the test runs")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long one run may take")
	fs.DurationVar(&cfg.wait, "wait", 10*time.Second, "how long a run waits for the confirmation")
	fs.BoolVar(&cfg.once, "once", false, "run the test once (a release gate): exit 0 if it passed, 1 if not")
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

// run serves the front on ln and runs the test, once or every period until
// ctx ends.
func run(ctx context.Context, cfg config, ln net.Listener, out io.Writer) int {
	prom := metrics.NewHandler() // /metrics: buckets for every histogram, no timestamps
	eng := stats.NewEngine("orbital", prom)
	waiter := webhook.NewRouteLogger(webhook.Header("X-Order-Id"), webhook.WithStats(eng))

	svc := orbital.New(orbital.WithOutput(out), orbital.WithTimeout(cfg.timeout), orbital.WithStats(eng))
	if err := svc.Register(orbital.TestCase{Name: "order-confirmed", Period: cfg.period, Func: orderConfirmed(cfg, waiter)}); err != nil {
		fmt.Fprintln(out, err)
		return 2
	}
	srv, err := server.New(server.Config{
		Service: svc, Stats: eng, Metrics: prom, Listener: ln,
		Webhook: webhook.Config{Logger: waiter, Secret: []byte(cfg.secret)},
	})
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
	srv.Start() // a gate: serve /webhook, run every case once, exit by the outcome
	results := svc.RunOnce(ctx, nil)
	if len(results) == 0 {
		return 2 // nothing ran: never read that as a pass
	}
	for _, r := range results {
		if r.Outcome == orbital.Fail {
			return 1
		}
	}
	return 0
}

// orderConfirmed places an order whose id is the run's trace id and waits
// for its confirmation, keyed by the X-Order-Id header.
func orderConfirmed(cfg config, waiter *webhook.RouteLogger) orbital.TestFunc {
	return func(ctx context.Context, o *orbital.O) {
		id := o.TraceID()
		if err := waiter.Sent(id); err != nil { // before sending: never miss a fast confirmation
			o.Fatal(err)
		}
		o.Cleanup(func() { waiter.Delete(id) })

		body, _ := json.Marshal(map[string]any{"id": id, "item": "coffee beans", "quantity": 2})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.orders+"/orders", bytes.NewReader(body))
		if err != nil {
			o.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			o.Fatalf("order %s: place: %v", id, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			o.Fatalf("order %s: the order service answered %s, want 202", id, resp.Status)
		}

		got, err := waiter.WaitFor(ctx, id, cfg.wait) // a lost confirmation fails with "… not delivered within …"
		if err != nil {
			o.Fatalf("order confirmation: %v", err) // err names the id
		}
		o.Measure(orbital.DeliveryLatency, got.ReceivedAt.Sub(start))
		var c struct {
			OrderID  string `json:"orderId"`
			Item     string `json:"item"`
			Quantity int    `json:"quantity"`
			Status   string `json:"status"`
		}
		if err := json.Unmarshal([]byte(got.Body), &c); err != nil {
			o.Fatalf("order %s: confirmation is not JSON: %v", id, err)
		}
		if c.OrderID != id || c.Item != "coffee beans" || c.Quantity != 2 || c.Status != "confirmed" {
			o.Errorf("order %s: confirmed %+v, want orderId %s, 2 coffee beans, status confirmed", id, c, id)
		}
		if err := waiter.WaitNone(ctx, id, time.Second); errors.Is(err, webhook.ErrUnexpectedDelivery) {
			o.Errorf("order %s confirmed twice", id)
		} else if err != nil {
			o.Errorf("order %s: watching for a second confirmation: %v", id, err)
		}
	}
}
