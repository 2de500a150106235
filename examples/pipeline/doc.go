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
// body), plus X-Attempt and X-Message-Id headers. Network
// errors, 5xx and 429 are retried with exponential backoff and jitter,
// honouring Retry-After; after MaxAttempts, or at once on any other non-2xx
// status, the event goes to the dead-letter topic. Offsets are committed only
// after an event's delivery finished (at-least-once): events are processed
// concurrently, and per partition only the longest finished prefix of offsets
// is committed.
//
// Faults (see Faults) make the pipeline misbehave on purpose so that a tester
// can prove it notices: lost, duplicated, delayed and corrupted deliveries and
// failing destinations.
//
// Metrics are emitted on the Config.Stats engine without a prefix (the
// binary's engine adds "pipeline"); the names are those of docs/metrics.md.
package pipeline
