package kafkaparts

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Offsets returns, per partition of parts, its end offset (at the zero at)
// or the offset of its first message with a timestamp at or after at (-1
// when there is none), retrying while ctx lasts.
func Offsets[P Part](ctx context.Context, c *Client, parts []P, at time.Time) ([]int64, error) {
	var out []int64
	what := "list end offsets"
	if !at.IsZero() {
		what = "list offsets at " + at.UTC().Format(time.RFC3339)
	}
	err := c.Retry(ctx, what, func() error {
		var err error
		out, err = listOffsets(ctx, c.Kafka, parts, at)
		return err
	})
	return out, err
}

type topicPartition struct {
	topic string
	id    int
}

func listOffsets[P Part](ctx context.Context, c *kafka.Client, parts []P, at time.Time) ([]int64, error) {
	reqs := make(map[string][]kafka.OffsetRequest)
	for _, pp := range parts {
		p := pp.Part()
		r := kafka.LastOffsetOf(p.ID)
		if !at.IsZero() {
			r = kafka.TimeOffsetOf(p.ID, at)
		}
		reqs[p.Topic] = append(reqs[p.Topic], r)
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return nil, err
	}
	got, err := answered(resp, len(parts), at)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(parts))
	for i, pp := range parts {
		p := pp.Part()
		off, ok := got[topicPartition{p.Topic, p.ID}]
		if !ok {
			return nil, fmt.Errorf("%s/%d: no offset in the answer", p.Topic, p.ID)
		}
		if at.IsZero() && off < 0 {
			return nil, fmt.Errorf("%s/%d: end offset %d", p.Topic, p.ID, off)
		}
		out[i] = off
	}
	return out, nil
}

// answered returns the offsets of resp by partition: the end offset (at the
// zero at) or the first offset of a message at or after at, -1 for none.
func answered(resp *kafka.ListOffsetsResponse, n int, at time.Time) (map[topicPartition]int64, error) {
	got := make(map[topicPartition]int64, n)
	for topic, pos := range resp.Topics {
		for _, po := range pos {
			if po.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, po.Partition, po.Error)
			}
			off := po.LastOffset
			if !at.IsZero() {
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
			got[topicPartition{topic, po.Partition}] = off
		}
	}
	return got, nil
}
