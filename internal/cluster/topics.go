package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// createTopics creates the receipts and schedule topics unless they exist,
// retrying while Kafka is unreachable until ctx ends.
func (n *Node) createTopics(ctx context.Context) error {
	req := &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: n.receipts, NumPartitions: n.cfg.ReceiptPartitions, ReplicationFactor: n.cfg.ReplicationFactor},
		{Topic: n.broadcast, NumPartitions: 1, ReplicationFactor: n.cfg.ReplicationFactor},
		{Topic: n.schedule, NumPartitions: n.cfg.Partitions, ReplicationFactor: n.cfg.ReplicationFactor},
	}}
	return retry(ctx, n, "create topics", func() error {
		resp, err := n.client.CreateTopics(ctx, req)
		if err != nil {
			return err
		}
		var errs []error
		for topic, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("topic %s: %w", topic, err))
			}
		}
		return errors.Join(errs...)
	})
}

// partitions returns the partition IDs of topic, 0..n-1.
func (n *Node) partitions(ctx context.Context, topic string) ([]int, error) {
	var ids []int
	err := retry(ctx, n, "read partitions of "+topic, func() error {
		md, err := n.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		for _, t := range md.Topics {
			if t.Name != topic {
				continue
			}
			if t.Error != nil {
				return t.Error
			}
			ids = ids[:0]
			for _, p := range t.Partitions {
				ids = append(ids, p.ID)
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("topic %s has no partitions", topic)
		}
		slices.Sort(ids)
		for i, id := range ids {
			if id != i {
				return fmt.Errorf("topic %s: partition %d missing", topic, i)
			}
		}
		return nil
	})
	return ids, err
}

// lastOffsets returns the end offset of every receipts partition, indexed by
// partition.
func (n *Node) lastOffsets(ctx context.Context) ([]int64, error) {
	parts, err := n.partitions(ctx, n.receipts)
	if err != nil {
		return nil, err
	}
	return n.lastOffsetsOf(ctx, n.receipts, len(parts))
}

// lastOffsetsOf returns the end offset of partitions 0..count-1 of topic.
func (n *Node) lastOffsetsOf(ctx context.Context, topic string, count int) ([]int64, error) {
	reqs := make([]kafka.OffsetRequest, count)
	for p := range count {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	out := make([]int64, count)
	err := retry(ctx, n, "list offsets of "+topic, func() error {
		resp, err := n.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
		if err != nil {
			return err
		}
		got := resp.Topics[topic]
		if len(got) != count {
			return fmt.Errorf("%d offsets for %d partitions", len(got), count)
		}
		for _, po := range got {
			if po.Error != nil {
				return fmt.Errorf("partition %d: %w", po.Partition, po.Error)
			}
			if po.Partition < 0 || po.Partition >= len(out) {
				return fmt.Errorf("unexpected partition %d", po.Partition)
			}
			out[po.Partition] = po.LastOffset
		}
		return nil
	})
	return out, err
}

// retry calls f until it succeeds or ctx ends, backing off from 100ms to 2s.
func retry(ctx context.Context, n *Node, what string, f func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		n.cfg.Logger.Warn("cluster: Kafka request failed; retrying", "op", what, "attempt", attempt, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster: %s on %v: %w", what, n.cfg.Brokers, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
