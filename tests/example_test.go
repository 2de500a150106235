package tests_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// Register every suite on a service that receives the pipeline's deliveries
// on its own /webhook, then run them all once, as a release gate does.
func Example() {
	secret := []byte(os.Getenv("WEBHOOK_SECRET"))
	waiter := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	mux := http.NewServeMux()
	mux.Handle("/webhook", webhook.New(webhook.Config{Logger: waiter, Secret: secret}))
	srv := &http.Server{
		Addr:              ":8080",
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ListenAndServe() }()
	defer func() { _ = srv.Close(); <-served }()

	svc := orbital.New(orbital.WithTimeout(2 * time.Minute))
	err := tests.Register(svc, &tests.Harness{
		APIURL:        "https://pipeline.example.com",
		WriteKey:      os.Getenv("WRITE_KEY"),
		Waiter:        waiter,
		WebhookURL:    "https://e2e.example.com/webhook", // where the pipeline delivers
		WebhookSecret: secret,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range svc.RunOnce(context.Background(), nil) {
		log.Printf("%s: %s %s", r.Case, r.Outcome, r.Error)
	}
}

// A test of your own that follows its event through the pipeline: the trail
// says where the event stopped when it does not come back, and logs each
// hop at the end of the run.
func ExampleHarness_Follow() {
	waiter := webhook.NewRouteLogger(tests.MessageID)
	h := &tests.Harness{APIURL: "https://pipeline.example.com", Waiter: waiter}
	send := func(ctx context.Context, id string) (int, error) { return http.StatusOK, nil } // your client
	_ = orbital.TestCase{Name: "signup", Period: time.Minute, Func: func(ctx context.Context, o *orbital.O) {
		id := o.TraceID()
		tr := h.Follow(o, id)
		start := tr.Sending()
		status, err := send(ctx, id)
		if err != nil {
			o.Fatalf("messageId %s: %v", id, err)
		}
		tr.Answered(start, status, id)
		if _, err := waiter.WaitFor(ctx, id, 10*time.Second); err != nil {
			o.Fatalf("messageId %s not delivered: %s", id, tr.Where(ctx, id))
		}
	}}
}
