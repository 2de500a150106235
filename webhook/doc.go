// Package webhook receives the deliveries of a pipeline under test and
// matches them to the tests waiting for them.
//
// A [Webhook] is the HTTP receiver: it accepts POST, PUT and PATCH requests,
// checks an optional HMAC-SHA256 signature, decodes gzip bodies within a size
// cap and hands every accepted delivery to a [Logger]. Signatures follow
// Standard Webhooks ([SchemeStandardWebhooks], the default: webhook-id,
// webhook-timestamp, webhook-signature over "id.timestamp.body"), so that a
// stale timestamp is refused and a delivery id seen before (a replay, or the
// sender retrying after a lost answer) is answered 200 without being recorded
// twice; [SchemeXSignature] keeps the plain hex HMAC of the body for
// pipelines that sign that way. Before authentication a request costs
// bounded memory: its signature headers are checked before its body is
// read, the MAC is computed as the body streams in, and all requests share a
// budget of unauthenticated bytes (Config.MaxUnauthenticatedBytes), beyond
// which they get 503 with Retry-After. A [RouteLogger] is the
// Logger that tests block on: a test declares the key it expects with
// [RouteLogger.Sent], sends its event into the pipeline and calls
// [RouteLogger.Wait] until the delivery carrying that key comes back or its
// context ends.
//
//	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
//	mux.Handle("/webhook", webhook.New(webhook.Config{Logger: rl}))
//
//	// in a test
//	if err := rl.Sent(id); err != nil { ... }
//	defer rl.Delete(id)
//	send(event{MessageID: id})
//	req, err := rl.Wait(ctx, id)
//
// The behaviour every Waiter implementation must have is written once as a
// suite in package [github.com/orbital-e2e/orbital/webhook/waitertest].
package webhook
