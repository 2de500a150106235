package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// partitions returns the partition IDs of topic, sorted, retrying while ctx
// lasts (the topic may not exist yet, Kafka may be unreachable).
func (s *Source) partitions(ctx context.Context, topic string) ([]int, error) {
	var ids []int
	err := s.retry(ctx, "read partitions of "+topic, func() error {
		md, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, t := range md.Topics {
			if t.Name != topic {
				continue
			}
			if t.Error != nil {
				return t.Error
			}
			for _, p := range t.Partitions {
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

// offsets returns, per partition of parts, its end offset (at the zero t)
// or the offset of its first message with a timestamp at or after t (-1
// when there is none), retrying while ctx lasts.
func (s *Source) offsets(ctx context.Context, parts []*partition, t time.Time) ([]int64, error) {
	var out []int64
	what := "list end offsets"
	if !t.IsZero() {
		what = "list offsets at " + t.UTC().Format(time.RFC3339)
	}
	err := s.retry(ctx, what, func() error {
		var err error
		out, err = s.listOffsets(ctx, parts, t)
		return err
	})
	return out, err
}

func (s *Source) listOffsets(ctx context.Context, parts []*partition, t time.Time) ([]int64, error) {
	reqs := make(map[string][]kafka.OffsetRequest)
	for _, p := range parts {
		r := kafka.LastOffsetOf(p.id)
		if !t.IsZero() {
			r = kafka.TimeOffsetOf(p.id, t)
		}
		reqs[p.topic] = append(reqs[p.topic], r)
	}
	resp, err := s.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
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
			off := po.LastOffset
			if !t.IsZero() {
				// kafka-go files a timestamp answer under Offsets, keyed by
				// offset; none found comes back as offset -1 and timestamp
				// -1, which it files as LastOffset -1.
				off = -1
				for o := range po.Offsets {
					if o >= 0 && (off < 0 || o < off) {
						off = o
					}
				}
			}
			got[tp{topic, po.Partition}] = off
		}
	}
	out := make([]int64, len(parts))
	for i, p := range parts {
		off, ok := got[tp{p.topic, p.id}]
		if !ok {
			return nil, fmt.Errorf("%s/%d: no offset in the answer", p.topic, p.id)
		}
		if t.IsZero() && off < 0 {
			return nil, fmt.Errorf("%s/%d: end offset %d", p.topic, p.id, off)
		}
		out[i] = off
	}
	return out, nil
}

// retry calls f until it succeeds or ctx ends, backing off from 100ms to 2s.
func (s *Source) retry(ctx context.Context, what string, f func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil {
			s.cfg.Log.Warn("kafkasource: Kafka request failed; retrying", "op", what, "attempt", attempt, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("kafkasource: %s on %v: %w", what, s.cfg.Brokers, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
