package kafkatap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// Sync blocks until every record written to the topics before Sync was
// called has been read (kept as a sighting when its key is pending), or
// until ctx ends. After a producer's write returned, Sync guarantees the
// tap has seen the record. It costs one Kafka request (retried while ctx
// lasts). It also brings tap.records_total up to date.
func (t *Tap) Sync(ctx context.Context) error {
	if !t.started.Load() || t.ctx.Err() != nil {
		return errors.New("kafkatap: Sync on a tap not started or closed")
	}
	ends, err := t.offsets(ctx, t.parts)
	if err != nil {
		return err
	}
	t.syncers.Add(1)
	defer t.syncers.Add(-1)
	for i, p := range t.parts {
		for {
			t.progressMu.Lock()
			ch := t.progress
			t.progressMu.Unlock()
			if p.processed.Load() >= ends[i] {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kafkatap: Sync: %s/%d at %d of %d: %w", p.topic, p.id, p.processed.Load(), ends[i], ctx.Err())
			case <-t.ctx.Done():
				return errors.New("kafkatap: Sync: tap closed")
			case <-ch:
			}
		}
	}
	t.flush()
	return nil
}

// partitions returns the partition IDs of topic, sorted, retrying while ctx
// lasts (the topic may not exist yet, Kafka may be unreachable).
func (t *Tap) partitions(ctx context.Context, topic string) ([]int, error) {
	var ids []int
	err := t.retry(ctx, "read partitions of "+topic, func() error {
		md, err := t.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, tp := range md.Topics {
			if tp.Name != topic {
				continue
			}
			if tp.Error != nil {
				return tp.Error
			}
			for _, p := range tp.Partitions {
				ids = append(ids, p.ID)
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("topic %s has no partitions", topic)
		}
		slices.Sort(ids)
		return nil
	})
	return ids, err
}

// offsets returns the end offset of each partition of parts, retrying
// while ctx lasts.
func (t *Tap) offsets(ctx context.Context, parts []*partition) ([]int64, error) {
	var out []int64
	err := t.retry(ctx, "list end offsets", func() error {
		var err error
		out, err = t.listEnds(ctx, parts)
		return err
	})
	return out, err
}

func (t *Tap) listEnds(ctx context.Context, parts []*partition) ([]int64, error) {
	reqs := make(map[string][]kafka.OffsetRequest)
	for _, p := range parts {
		reqs[p.topic] = append(reqs[p.topic], kafka.LastOffsetOf(p.id))
	}
	resp, err := t.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return nil, err
	}
	type tp struct {
		topic string
		id    int
	}
	got := make(map[tp]int64, len(parts))
	for topic, pos := range resp.Topics {
		for _, po := range pos {
			if po.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, po.Partition, po.Error)
			}
			got[tp{topic, po.Partition}] = po.LastOffset
		}
	}
	out := make([]int64, len(parts))
	for i, p := range parts {
		off, ok := got[tp{p.topic, p.id}]
		if !ok {
			return nil, fmt.Errorf("%s/%d: no offset in the answer", p.topic, p.id)
		}
		if off < 0 {
			return nil, fmt.Errorf("%s/%d: end offset %d", p.topic, p.id, off)
		}
		out[i] = off
	}
	return out, nil
}

// retry calls f until it succeeds, ctx ends or the tap closes, backing off
// from 100ms to 2s. Failures before Start succeeded show in Err.
func (t *Tap) retry(ctx context.Context, what string, f func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if !t.started.Load() {
			msg := what + ": " + err.Error()
			t.startErr.Store(&msg)
		}
		if ctx.Err() == nil {
			t.cfg.Log.Warn("kafkatap: Kafka request failed; retrying", "op", what, "attempt", attempt, "err", err)
		}
		tm := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			tm.Stop()
			return fmt.Errorf("kafkatap: %s on %v: %w", what, t.cfg.Brokers, errors.Join(ctx.Err(), err))
		case <-t.ctx.Done():
			tm.Stop()
			return fmt.Errorf("kafkatap: %s: tap closed", what)
		case <-tm.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
