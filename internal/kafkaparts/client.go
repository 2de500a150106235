package kafkaparts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// Client makes the metadata and offset requests of one owner (a Source, a
// Tap), retrying each while its context lasts.
type Client struct {
	Kafka   *kafka.Client
	Pkg     string       // the owner's package, first word of errors and logs
	Brokers []string     // named in the error when a context ends
	Log     *slog.Logger // receives a warning per failed attempt

	// Done, when closed, makes Retry give up with "<Pkg>: <what>: <Closed>".
	// Nil: only the context ends a Retry.
	Done   <-chan struct{}
	Closed string

	// Failed, when set, is called with each failure.
	Failed func(what string, err error)
}

// Retry calls f until it succeeds, ctx ends or Done is closed, backing off
// from 100ms to 2s. what names the request in logs and errors.
func (c *Client) Retry(ctx context.Context, what string, f func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if c.Failed != nil {
			c.Failed(what, err)
		}
		if ctx.Err() == nil {
			c.Log.Warn(c.Pkg+": Kafka request failed; retrying", "op", what, "attempt", attempt, "err", err)
		}
		tm := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			tm.Stop()
			return fmt.Errorf("%s: %s on %v: %w", c.Pkg, what, c.Brokers, errors.Join(ctx.Err(), err))
		case <-c.Done:
			tm.Stop()
			return fmt.Errorf("%s: %s: %s", c.Pkg, what, c.Closed)
		case <-tm.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Partitions returns the partition IDs of topic, sorted, retrying while
// ctx lasts (the topic may not exist yet, Kafka may be unreachable).
func (c *Client) Partitions(ctx context.Context, topic string) ([]int, error) {
	var ids []int
	err := c.Retry(ctx, "read partitions of "+topic, func() error {
		md, err := c.Kafka.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
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
