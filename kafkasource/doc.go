// Package kafkasource is a Kafka return path for orbital testers: it consumes
// given topics and records every message in a [webhook.Logger] (a
// [*webhook.RouteLogger]) as a delivery, so a test waits on a pipeline whose
// output is a Kafka topic exactly as it waits on one that calls a webhook:
// Sent, send, Wait (or WaitFor), WaitNone.
//
//	waiter := webhook.NewRouteLogger(kafkasource.MessageKey, webhook.WithStats(eng))
//	src, err := kafkasource.New(kafkasource.Config{
//		Brokers: brokers, Topics: []string{"order-confirmations"},
//		Logger: waiter, Stats: eng,
//	})
//	if err := src.Start(ctx); err != nil { ... } // positioned: nothing produced from now on is missed
//	defer src.Close()
//
// # Messages as deliveries
//
// Each message becomes a [webhook.Request]: Body is the message value;
// Header holds the message's Kafka headers (names canonicalised as HTTP
// header names, so [webhook.Header] finds them; repeated names keep every
// value) and, under the names of [HeaderKey], [HeaderTopic],
// [HeaderPartition], [HeaderOffset] and [HeaderTimestamp], the message key
// and where and when the message was written (these replace any Kafka
// header of the same name); RawURL is "kafka://TOPIC/PARTITION/OFFSET";
// ReceivedAt is when this source read it; Proto is [Proto] ("kafka").
// Method is empty: a Kafka message has no HTTP method, and nothing here
// pretends it has. Key a RouteLogger by the message key with [MessageKey],
// by a header with webhook.Header, or by a field of a JSON value with
// webhook.JSONField. A message whose key function gives "" is unmatched: the
// RouteLogger counts it (webhook.unmatched_total) and ignores it.
//
// # Positioning, grace window, restarts
//
// Start reads the topics' partitions and, for each one, the offset of the
// first message written at most Config.Grace (default 30s) before Start, or
// the partition's end when there is none; each partition's reader starts at
// that absolute offset. So when Start returns, every message written from
// then on will be read (a test that produces right after Start cannot miss
// its message), and so will messages written in the grace window just
// before Start (a pipeline faster than the tester's start-up). Messages
// older than the window are not read. The window is measured on the
// messages' timestamps: the producer's clock, or the broker's for a topic
// with LogAppendTime.
//
// A Source uses no consumer group and commits no offsets: there is no group
// membership to join on Start or leave on Close, so a tester restarted at
// once reads promptly, never waiting for a stale member's session to time
// out, and several testers may read the same topics independently. Partitions
// added to a topic after Start are not read until the next Start.
//
// # Memory, metrics, concurrency
//
// Each partition has one reader holding at most 16 messages ahead of the
// RouteLogger (whose own bounds then apply); a value larger than
// Config.MaxValueBytes (default 1 MiB) is not recorded but counted. Metrics
// go to Config.Stats under names of their own, so a Source runs beside a
// Webhook on one engine: kafkasource.received_total{topic},
// kafkasource.dropped_total{topic,reason="too_large"},
// kafkasource.errors_total{topic} and the gauge kafkasource.partitions{topic},
// every labelled series created at 0 by Start. Record a Source's messages in
// the same RouteLogger as the Webhook's deliveries when one key function fits
// both; a second RouteLogger on the same engine would export the same
// webhook_* series, so give it an engine of its own tags
// (eng.WithTags(stats.T("source", "kafka"))).
//
// A Source is safe for concurrent use. It calls Logger.Record from one
// goroutine per partition, so the Logger must be safe for concurrent use (a
// RouteLogger is). Close stops those goroutines and waits for them.
package kafkasource
