package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/orders"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/orbitaltest"
	"github.com/orbital-e2e/orbital/webhook"
)

// The same test function under go test, with no service around it:
// orbitaltest.Run replays its outcome on t, and orbitaltest.Result shows
// that the check fails, with orbital's message, when the confirmation is
// lost.
func TestOrderConfirmedUnderGoTest(t *testing.T) {
	waiter := webhook.NewRouteLogger(webhook.Header("X-Order-Id"))
	hook := httptest.NewServer(webhook.New(webhook.Config{Logger: waiter, Secret: []byte("s3cret")}))
	defer hook.Close()
	svc, err := orders.New(orders.Config{CallbackURL: hook.URL, Secret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	api := httptest.NewServer(svc.Handler())
	defer api.Close()
	cfg := config{orders: api.URL, wait: 2 * time.Second}

	orbitaltest.Run(t, orderConfirmed(cfg, waiter)) // fails t if the check fails

	svc.SetFaults(orders.Faults{Drop: true})
	res := orbitaltest.Result(t, orderConfirmed(cfg, waiter))
	if res.Outcome != orbital.Fail || res.TimedOut || !strings.Contains(res.Error, "not delivered within 2s") {
		t.Errorf("a lost confirmation: outcome %s, timed out %v, error %q; want a failure (not a timeout) saying \"not delivered within 2s\"\n%s",
			res.Outcome, res.TimedOut, res.Error, res.Output)
	}
}
