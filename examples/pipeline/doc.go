// Package pipeline is a small but real event pipeline, shaped like Segment's,
// that orbital tests end to end: the system under test in the README demo, in
// CI and in the docs. It is "someone else's service": it never imports orbital
// or webhook.
//
// The data flow is
//
//	HTTP tracking API ──► Kafka topic "events" ──► worker (consumer group) ──► signed HTTP POST to every destination
//	                                                   └─ after MaxAttempts ─► Kafka topic "events-dead-letter"
//
// The tracking API (/v1/track, /v1/page, /v1/batch) authenticates with HTTP
// Basic auth (the write key is the user name), validates Segment-spec events,
// assigns a missing messageId and answers 200 {"success":true} only after
// Kafka acknowledged the write with acks=all; when Kafka is unavailable it
// answers 503 so that the client retries. Bad input always gets a JSON error
// and a 4xx, never a 500.
//
// The worker reads the topic through a kafka-go consumer group, validates and
// de-duplicates by messageId over a bounded window, adds "processed": true and
// "receivedAt", and POSTs the event to every destination signed as Standard
// Webhooks (webhook-id, the same on every retry of a delivery;
// webhook-timestamp of the attempt; webhook-signature "v1,<base64
// HMAC-SHA256 of id.timestamp.body>") or, with Config.Signature
// SignatureXSignature, with an X-Signature header (hex HMAC-SHA256 of the
// body), plus X-Attempt (the attempt number of this delivery: 1, 2, ...; the
// webhook-id stays the same) and X-Message-Id headers. Network errors, 5xx
// and 429 are retried with exponential backoff and jitter, honouring
// Retry-After; after MaxAttempts, or at once on any other non-2xx status, the
// event goes to the dead-letter topic. Offsets are committed only
// after an event's delivery finished (at-least-once): events are processed
// concurrently, and per partition only the longest finished prefix of offsets
// is committed.
//
// A dead-letter record is keyed by the messageId; its value is the event as it
// would have been delivered (or, for a message the worker cannot parse, the
// message unchanged). Its headers are
//
//	error        what went wrong: "destination answered 503" (any status),
//	             the network error ("POST http://host/webhook: ...", the URL
//	             without credentials), or "invalid event: ..."
//	destination  the destination's URL without credentials
//	attempts     delivery attempts made, e.g. "5"
//	status       the last attempt's HTTP status, "0" for a network error
//	traceparent  the consumed message's, when it had a valid one
//	tracestate   the consumed message's, with traceparent, when not empty
//
// destination, attempts and status are there only for a failed delivery.
//
// Trace context (W3C, https://www.w3.org/TR/trace-context/): the API reads a
// request's traceparent (exactly one header, version 00
// "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>", lowercase, ids not
// all zero; a later version by its first four fields) and its tracestate (kept
// only with a valid traceparent; joined into one list, dropped whole when a
// member is malformed or there are more than 32, cut to 512 bytes by dropping
// members). An invalid traceparent is ignored, never an error. Both are
// written as Kafka headers "traceparent" (version 00) and "tracestate" on the
// message of every event of the request, a batch's included. The worker reads
// them back from the message; on each delivery attempt it sends a traceparent
// with the same trace-id and flags and a new random parent-id (the span of
// that request, as an OpenTelemetry-instrumented HTTP client would), plus the
// tracestate, and it copies the consumed traceparent and tracestate onto the
// dead-letter record and the output topic's message. Without a valid
// traceparent nothing is added. The API's CORS headers allow both, so that a
// page may add them.
//
// Faults (see Faults) make the pipeline misbehave on purpose so that a tester
// can prove it notices: events lost before Kafka, lost, duplicated, delayed and
// corrupted deliveries and failing destinations.
//
// Metrics are emitted on the Config.Stats engine without a prefix (the
// binary's engine adds "pipeline"); the names are those of docs/metrics.md.
package pipeline
