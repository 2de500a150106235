// Package tests holds orbital's own end-to-end suites for an event pipeline
// shaped like Segment's (HTTP tracking API → Kafka → worker → signed webhook
// delivery), and the Harness that tells them where that pipeline is.
//
// Each suite is an ordinary [orbital.TestFunc]. A run uses its trace id
// ([orbital.O.TraceID], a fresh UUID) as the messageId of the event it sends,
// declares it on the Harness's [webhook.RouteLogger] before sending, waits for
// the pipeline to deliver it back, checks what came back and records the
// send-to-delivery latency with o.Measure(orbital.DeliveryLatency, d), which the
// service exports as the histogram orbital_delivery_latency_seconds{case}.
// Failure messages name the messageId and what was wrong: "not delivered
// within 20s", "delivered twice", "field properties.x differs: got .. want ..".
// Trouble on the prober's own side (the browser crashing mid-run, the cluster
// relay unreachable) makes a run inconclusive instead; [Harness] lists which
// problem gives which outcome.
//
// The suites:
//
//	track         one event over POST /v1/track comes back once, processed, unchanged and signed
//	batch         20 events in one POST /v1/batch each come back exactly once
//	analytics-go  Segment's Go client sends track, identify, page and a batch; each comes back once with its context.library
//	kafka         an event produced straight to the ingest topic comes back (only with Brokers)
//	browser       headless Chromium runs the real analytics.js (@segment/analytics-next, BrowserPage): identify, track, page
//	dedupe        the same messageId sent twice is delivered once
//	reject        an invalid event gets a 4xx and is never delivered; a wrong write key gets 401
//
// The analytics-go and browser suites send the way customers do, through
// Segment's own client libraries (see the README's compatibility table).
// The browser suite needs the npm package installed (make npm, into
// tests/node_modules; FindAnalyticsJS): without it, it falls back to the
// example pipeline's small snippet and says so in its output.
//
// Register them all on a service with [Register]:
//
//	rl := webhook.NewRouteLogger(tests.MessageID)
//	mux.Handle("/webhook", webhook.New(webhook.Config{Logger: rl, Secret: secret}))
//	h := &tests.Harness{APIURL: api, WriteKey: key, Waiter: rl, WebhookSecret: secret}
//	if err := tests.Register(svc, h); err != nil { ... }
package tests
