package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
)

// Routing. A replica reads the receipts partitions whose numbers are schedule
// partitions the group gave it (its slots), and names each run it makes with
// a trace id that carries one of its slots (TraceID): an RFC 9562 UUIDv8 whose
// byte 13 is slotMarker and bytes 14-15 the slot. A delivery whose key starts
// with such an id is published to that slot's partition, read only by the
// replica that owns it (and, for SlotLinger after a rebalance moved it, by
// the one that owned it before, whose keys may still be pending); any other
// key (a v4 UUID, a replica without a slot) goes to the broadcast topic that
// every replica reads. Either way a replica decodes only the receipts whose
// key is pending there.

// slotMarker marks a trace id that carries a slot.
const slotMarker = 0x0b

// noSlot is a slot number that routes to the broadcast topic.
const noSlot = -1

// slotOf returns the slot a key carries: the key starts with a trace id made
// by TraceID (a batch's keys add a suffix), or noSlot.
func slotOf(key string) int {
	if len(key) < 36 {
		return noSlot
	}
	id, err := uuid.Parse(key[:36])
	if err != nil || id.Version() != 8 || id.Variant() != uuid.RFC4122 || id[13] != slotMarker {
		return noSlot
	}
	return int(id[14])<<8 | int(id[15])
}

// newSlotID returns a random UUIDv8 carrying slot.
func newSlotID(slot int) string {
	var id uuid.UUID
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x80 // version 8
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	id[13] = slotMarker
	id[14], id[15] = byte(slot>>8), byte(slot)
	return id.String()
}

// TraceID returns a new trace id for a run of this replica (pass it to
// orbital.WithTraceIDs): a UUID carrying one of this replica's slots, so a
// delivery of the run that lands on another replica is published to the
// partition only this replica reads. Before Start, after Close and while the
// replica owns no slot it returns a random (v4) UUID, whose deliveries take
// the broadcast topic. Safe for concurrent use.
func (n *Node) TraceID() string {
	if n.started.Load() && n.ctx.Err() == nil {
		if s := n.slots.Load(); s != nil && len(*s) > 0 {
			slot := (*s)[n.slotSeq.Add(1)%uint64(len(*s))]
			n.slotUsed[slot].Store(time.Now().UnixNano())
			return newSlotID(slot)
		}
	}
	return uuid.NewString()
}

// slotCount is how many slots TraceID uses now.
func (n *Node) slotCount() int {
	if s := n.slots.Load(); s != nil {
		return len(*s)
	}
	return 0
}

// partReader reads one partition of a receipts topic.
type partReader struct {
	topic     string
	part      int
	r         *kafka.Reader
	processed atomic.Int64 // offset of the next receipt to handle
	cancel    context.CancelFunc
	done      chan struct{}
	lost      *time.Timer // set while lingering after the slot moved away (slotsMu)
}

// startReader positions a reader of topic/part at off and starts consuming.
func (n *Node) startReader(topic string, part int, off int64) (*partReader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        n.cfg.Brokers,
		Topic:          topic,
		Partition:      part,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond, // also bounds Close
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    n.kafkaLogger("reader"),
		Dialer:         n.cfg.dialer(),
	})
	if err := r.SetOffset(off); err != nil {
		r.Close()
		return nil, fmt.Errorf("cluster: position reader of %s/%d at %d: %w", topic, part, off, err)
	}
	ctx, cancel := context.WithCancel(n.ctx)
	pr := &partReader{topic: topic, part: part, r: r, cancel: cancel, done: make(chan struct{})}
	pr.processed.Store(off)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(pr.done)
		n.consume(ctx, pr)
	}()
	return pr, nil
}

// stop stops pr and waits for its fetch in flight (at most MaxWait).
func (pr *partReader) stop() error {
	pr.cancel()
	err := pr.r.Close()
	<-pr.done
	return err
}

// updateSlots follows a new assignment: it starts reading each receipts
// partition the replica gained (positioned at its end before the slot is
// used for trace ids), lets each one it lost linger for SlotLinger, and then
// publishes the slots TraceID may use.
func (n *Node) updateSlots(ctx context.Context, a *assignment) {
	var gained []int
	var usable []int
	n.slotsMu.Lock()
	for p := range min(n.numReceipts, n.numParts) {
		pr, reading := n.slotReaders[p]
		switch {
		case a.has(p) && !reading:
			gained = append(gained, p)
		case a.has(p):
			if pr.lost != nil {
				pr.lost.Stop()
				pr.lost = nil
			}
			usable = append(usable, p)
		case reading && pr.lost == nil:
			// Linger while a run named with this slot may still wait: SlotLinger
			// after the slot's last trace id; not at all when it had none.
			linger := time.Duration(0)
			if used := n.slotUsed[p].Load(); used != 0 {
				linger = n.cfg.SlotLinger - time.Since(time.Unix(0, used))
			}
			pr.lost = time.AfterFunc(max(linger, 0), func() { n.dropSlot(pr) })
		}
	}
	n.slotsMu.Unlock()
	if len(gained) > 0 {
		ends, err := n.lastOffsets(ctx)
		if err != nil {
			n.cfg.Logger.Warn("cluster: cannot read receipts offsets; new slots unused until the next assignment", "err", err)
			gained = nil
		}
		for _, p := range gained {
			if p >= len(ends) {
				continue
			}
			pr, err := n.startReader(n.receipts, p, ends[p])
			if err != nil {
				n.cfg.Logger.Warn("cluster: cannot read a receipts partition", "partition", p, "err", err)
				continue
			}
			n.slotsMu.Lock()
			if n.ctx.Err() != nil {
				n.slotsMu.Unlock()
				_ = pr.stop()
				return
			}
			n.slotReaders[p] = pr
			n.slotsMu.Unlock()
			usable = append(usable, p)
		}
	}
	slices.Sort(usable)
	n.slots.Store(&usable)
	n.cfg.Stats.Set("cluster.receipt_slots", len(usable))
}

// dropSlot stops reading a partition that stayed lost for SlotLinger.
func (n *Node) dropSlot(pr *partReader) {
	n.slotsMu.Lock()
	if n.slotReaders[pr.part] != pr || pr.lost == nil {
		n.slotsMu.Unlock()
		return
	}
	delete(n.slotReaders, pr.part)
	n.slotsMu.Unlock()
	_ = pr.stop()
}

// activeReaders returns the broadcast reader and every slot reader.
func (n *Node) activeReaders() []*partReader {
	n.slotsMu.Lock()
	defer n.slotsMu.Unlock()
	out := make([]*partReader, 0, len(n.slotReaders)+1)
	if n.bcast != nil {
		out = append(out, n.bcast)
	}
	for _, pr := range n.slotReaders {
		out = append(out, pr)
	}
	return out
}

// closeReaders stops every reader concurrently.
func (n *Node) closeReaders() error {
	n.slotsMu.Lock()
	rs := make([]*partReader, 0, len(n.slotReaders)+1)
	if n.bcast != nil {
		rs = append(rs, n.bcast)
	}
	for p, pr := range n.slotReaders {
		if pr.lost != nil {
			pr.lost.Stop()
		}
		rs = append(rs, pr)
		delete(n.slotReaders, p)
	}
	n.slotsMu.Unlock()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, pr := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pr.stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// routeBalancer sends a receipt to its key's slot partition, a broadcast one
// to the broadcast topic's only partition.
type routeBalancer struct{ receipts string }

// Balance implements kafka.Balancer.
func (b routeBalancer) Balance(m kafka.Message, partitions ...int) int {
	if m.Topic == b.receipts {
		if s := slotOf(string(m.Key)); s != noSlot && slices.Contains(partitions, s) {
			return s
		}
		// Not expected (RecordChecked sends only routable keys here): by key.
		h := fnv.New32a()
		h.Write(m.Key)
		return partitions[int(h.Sum32()%uint32(len(partitions)))]
	}
	return partitions[0]
}
