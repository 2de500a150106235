// Package load is orbital's load generator: it sends traced track events into
// a pipeline's tracking API at a configured rate and accounts for every one of
// them.
//
// Each event gets a fresh messageId, is declared on a Waiter (a
// *webhook.RouteLogger) before it is sent, is POSTed to /v1/track with the
// write key as the HTTP Basic user name, and is then waited for until the
// pipeline delivers it back or its per-event deadline passes. Run returns a
// Report in which the count always adds up: Sent = Matched + Lost, and every
// lost event is counted under a reason ("http 503", "not delivered within
// 10s", "send error: ..."). Throughput and the send-to-delivery latency
// quantiles come from a fixed-size log histogram, so memory stays bounded
// whatever the rate and duration.
//
// Cancelling Run's context (SIGTERM in a binary) stops sending new events;
// the events already sent keep their own deadline and are still accounted for,
// so nothing is dropped silently and nothing fails merely because of the
// shutdown.
package load
