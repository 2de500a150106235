// Package kafkatap reads a pipeline's Kafka topics beside it and records,
// for each event a test is waiting for, where it was seen: topic,
// partition, offset, Kafka timestamp and, for a dead-letter record, the
// error headers the pipeline wrote. A failing run can then say which hop
// lost its event ("written to events[2]@1234, dead-lettered after 5
// attempts", or "never reached Kafka").
//
//	tap, err := kafkatap.New(kafkatap.Config{
//		Brokers: brokers, Topics: []string{"events", "events-dead-letter"}, Stats: eng,
//	})
//	if err := tap.Start(ctx); err != nil { ... } // positioned at the end: nothing written from now on is missed
//	defer tap.Close()
//
//	tap.Watch(messageID)         // before sending
//	defer tap.Forget(messageID)
//	... send, wait for the delivery ...
//	tap.Sync(ctx)                // everything written so far has been read
//	for _, s := range tap.Sightings(messageID) { ... }
//
// # Matching
//
// A record belongs to a pending key when its Kafka key is that key, or
// else when its value is a JSON object whose top-level "messageId" is that
// key, read as webhook.JSONField("messageId") reads a delivery (so the tap
// and a RouteLogger match the same events). Values are not decoded: only
// one containing the bytes `"messageId"` is scanned, in place, up to that
// field. Records of keys not pending are counted and forgotten; their
// values are never kept.
//
// A sighting is a dead letter (Sighting.DeadLetter) when its topic's name
// says so (IsDeadLetterTopic: -dead-letter, .DLT, -dlq...) or the record
// carries an error header (error, x-error, kafka_dlt-exception-message,
// __connect.errors.exception.message). A dead letter's sighting keeps its
// headers; any sighting keeps a traceparent header.
//
// # Positioning, groups, cluster mode
//
// Start positions one reader per partition of every topic at the
// partition's end, so every record written after Start returns is read
// and nothing older is. The tap uses no consumer group and commits no
// offsets: it never joins the pipeline's groups, so it takes no partition
// from the pipeline's consumers and triggers no rebalance. In cluster mode
// every replica runs its own tap reading every partition, and each records
// only the keys its own runs watch: a replica's memory follows its own
// pending runs, and each one's CPU follows the topics' whole rate.
//
// # Bounds
//
// Memory is bounded whatever the topics carry: at most Config.MaxKeys
// pending keys (Watch beyond returns ErrFull), at most
// Config.MaxSightingsPerKey sightings each (further ones counted in
// Tap.Dropped and tap.dropped_total), at most MaxHeaders headers per
// sighting, each name and value cut to MaxHeaderBytes, at most
// Config.MaxHeaderMemory bytes of headers over all sightings (beyond it a
// sighting is kept without them), and per partition a reader holding at
// most 64 records ahead of the tap. A sighting without headers takes about
// 100 bytes, a pending key about 150 more: at the defaults (100,000 keys,
// 8 sightings each, 16 MiB of headers) the sightings take at most about
// 110 MB, and in practice a few hundred bytes per pending run. Forget a key
// once its run is over. The readers' buffers come on top, per partition
// read, whatever is watched: up to 64 records queued and a fetch of up to
// 4 MiB (the largest record the topic holds, if larger) in flight, so a
// tap over P partitions of records of size R holds up to about
// P × (64 × R + 4 MiB) more.
//
// # Metrics
//
// On Config.Stats, every labelled series created at 0 by Start (see
// docs/metrics.md): tap.records_total{topic} (every record read, added
// every second and by Sync), tap.sightings_total{topic},
// tap.dropped_total{reason} (per_key, keys_full, headers),
// tap.errors_total{topic}, and the gauges tap.pending_keys and
// tap.partitions{topic}. Err says whether the tap is reading now.
//
// A Tap is safe for concurrent use. Close stops its goroutines and waits
// for them.
package kafkatap
