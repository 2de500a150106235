package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/webhook"
)

// receipt is the message published to the receipts topic: one delivery that
// landed on a replica where its key was not pending.
type receipt struct {
	Origin  string          `json:"origin"`  // ReplicaID of the publisher
	SentAt  int64           `json:"sent_at"` // unix ns, when it was published
	Request webhook.Request `json:"request"`
}

// Record is the webhook.Logger of this replica's /webhook. A delivery whose
// key is pending in Local (or that has no key) is recorded there at once,
// without a Kafka round trip. Any other delivery is published as a receipt,
// keyed by its key, and Record returns once Kafka acknowledged it (at most
// PublishTimeout); every replica then records it, and the one whose test
// waits for the key matches it. A receipt that cannot be published is logged
// and counted as cluster.relay_errors_total, and the test waiting for it
// times out. Before Start and after Close, Record only records locally.
//
// The webhook calls RecordChecked instead (Node is a webhook.CheckedLogger), so a
// receipt that cannot be published is answered 503 and the pipeline retries it.
func (n *Node) Record(r webhook.Request) { _ = n.RecordChecked(r) }

// RecordChecked is Record that reports a receipt it could not publish, so the
// webhook answers 503 and the sender retries instead of the delivery being lost.
// A delivery that reaches a closed node is kept locally and also reported.
func (n *Node) RecordChecked(r webhook.Request) error {
	key := n.cfg.Local.Key(r)
	pending := key != "" && n.cfg.Local.Pending(key)
	if pending || key == "" || !n.started.Load() || n.ctx.Err() != nil {
		if pending {
			n.local.Add(1)
			n.cfg.Stats.Incr("cluster.local_total")
		} else if key != "" && n.started.Load() {
			n.cfg.Stats.Incr("cluster.relay_errors_total")
			n.cfg.Logger.Warn("cluster: a delivery reached a closed node; it is only kept locally", "key", key)
			n.cfg.Local.Record(r)
			return fmt.Errorf("cluster: node %s is closed; delivery for key %q kept only locally", n.cfg.ReplicaID, key)
		}
		n.cfg.Local.Record(r)
		return nil
	}
	msg, err := json.Marshal(receipt{Origin: n.cfg.ReplicaID, SentAt: time.Now().UnixNano(), Request: r})
	if err == nil {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PublishTimeout)
		topic := n.broadcast
		if slotOf(key) != noSlot && slotOf(key) < n.numReceipts {
			topic = n.receipts
		}
		err = n.writer.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte(key), Value: msg,
			Headers: []kafka.Header{{Key: originHeader, Value: []byte(n.cfg.ReplicaID)}}})
		cancel()
	}
	if err != nil {
		err = fmt.Errorf("cluster: relay delivery for key %q: %w", key, err)
		setErr(&n.publishErr, err)
		n.cfg.Stats.Incr("cluster.relay_errors_total")
		n.cfg.Logger.Warn("cluster: relaying a delivery failed; the webhook answers 503 so the sender retries",
			"key", key, "err", err)
		return err
	}
	setErr(&n.publishErr, nil)
	// Kept here as unmatched for the grace period: a Sent on this replica right after
	// still matches it (the receipt itself is skipped here, see handle).
	n.cfg.Local.Record(r)
	n.relayed.Add(1)
	n.cfg.Stats.Incr("cluster.relayed_total")
	return nil
}

// consume reads pr's partition until ctx ends or the reader is closed.
func (n *Node) consume(ctx context.Context, pr *partReader) {
	for {
		m, err := pr.r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The reader retries broker errors itself; anything else
			// (it was closed) ends the loop.
			n.cfg.Logger.Warn("cluster: receipts reader stopped", "topic", pr.topic, "partition", pr.part, "err", err)
			return
		}
		n.handle(m)
		pr.processed.Store(m.Offset + 1)
		n.progressMu.Lock()
		close(n.progress)
		n.progress = make(chan struct{})
		n.progressMu.Unlock()
	}
}

// handle records one receipt in Local when its key is pending here. The key
// travels as the Kafka message key and the publisher as a header, so a
// receipt meant for another replica costs a header scan and one lookup and
// is never decoded here, nor kept as unmatched (its publisher keeps it as
// unmatched, the replica that waits for it records it).
func (n *Node) handle(m kafka.Message) {
	n.read.Add(1)
	key := string(m.Key)
	if key == "" || n.ownReceipt(m) || !n.cfg.Local.Pending(key) {
		n.cfg.Stats.Incr("cluster.receipts_total", stats.T("result", "ignored"))
		return
	}
	n.decoded.Add(1)
	var rc receipt
	if err := json.Unmarshal(m.Value, &rc); err != nil || n.cfg.Local.Key(rc.Request) != key {
		n.cfg.Stats.Incr("cluster.receipts_total", stats.T("result", "invalid"))
		n.cfg.Logger.Warn("cluster: ignoring an undecodable receipt", "partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	n.matchedRemote.Add(1) // before Record wakes the waiter, so Counts is current
	n.cfg.Local.Record(rc.Request)
	n.cfg.Stats.Incr("cluster.receipts_total", stats.T("result", "matched"))
	if rc.SentAt > 0 {
		n.cfg.Stats.Observe("cluster.relay_latency_seconds", time.Since(time.Unix(0, rc.SentAt)))
	}
}

// originHeader is the Kafka header naming the replica that published a
// receipt.
const originHeader = "origin"

// ownReceipt reports whether m was published by this replica (which recorded
// the delivery when it published it).
func (n *Node) ownReceipt(m kafka.Message) bool {
	for _, h := range m.Headers {
		if h.Key == originHeader {
			return string(h.Value) == n.cfg.ReplicaID
		}
	}
	return false
}

// Sync blocks until this node has recorded every receipt meant for it that
// any replica published before Sync was called (the broadcast topic and the
// receipts partitions it reads), or until ctx ends. Record on one replica
// followed by Sync on the replica waiting for the key guarantees that its
// RouteLogger sees the delivery. It costs two Kafka requests.
func (n *Node) Sync(ctx context.Context) error {
	if !n.started.Load() || n.ctx.Err() != nil {
		return errors.New("cluster: Sync on a node not started or closed")
	}
	ends, err := n.lastOffsets(ctx)
	if err != nil {
		return err
	}
	bend, err := n.lastOffsetsOf(ctx, n.broadcast, 1)
	if err != nil {
		return err
	}
	for _, pr := range n.activeReaders() {
		end := bend[0]
		if pr.topic == n.receipts {
			if pr.part >= len(ends) {
				continue
			}
			end = ends[pr.part]
		}
		for {
			n.progressMu.Lock()
			ch := n.progress
			n.progressMu.Unlock()
			if pr.processed.Load() >= end {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: Sync: %s/%d at %d of %d: %w", pr.topic, pr.part, pr.processed.Load(), end, ctx.Err())
			case <-n.ctx.Done():
				return errors.New("cluster: Sync: node closed")
			case <-pr.done:
				return fmt.Errorf("cluster: Sync: reader of %s/%d stopped", pr.topic, pr.part)
			case <-ch:
			}
		}
	}
	return nil
}

// Counts are a node's relay counters since Start.
type Counts struct {
	Local   int64 // deliveries recorded here because their key was pending here
	Relayed int64 // deliveries published as receipts
	Matched int64 // receipts from the topic whose key was pending here
	Read    int64 // receipts read from the topic
	Decoded int64 // receipts decoded: only those whose key was pending here
}

// Counts returns the node's relay counters (also exported as metrics).
func (n *Node) Counts() Counts {
	return Counts{Local: n.local.Load(), Relayed: n.relayed.Load(), Matched: n.matchedRemote.Load(),
		Read: n.read.Load(), Decoded: n.decoded.Load()}
}
