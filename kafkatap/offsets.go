package kafkatap

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/kafkaparts"
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
	ends, err := kafkaparts.Offsets(ctx, t.client, t.parts, time.Time{})
	if err != nil {
		return err
	}
	if err := kafkaparts.Wait(ctx, &t.progress, t.ctx.Done(), t.parts, ends, "kafkatap", "tap closed"); err != nil {
		return err
	}
	t.flush()
	return nil
}

// newClient returns the client of t's metadata and offset requests: they
// are retried until their context ends or the tap closes, and their
// failures before Start succeeded show in Err.
func (t *Tap) newClient() *kafkaparts.Client {
	return &kafkaparts.Client{
		Kafka:   &kafka.Client{Addr: kafka.TCP(t.cfg.Brokers...), Timeout: 5 * time.Second, Transport: t.cfg.Transport},
		Pkg:     "kafkatap",
		Brokers: t.cfg.Brokers,
		Log:     t.cfg.Log,
		Done:    t.ctx.Done(),
		Closed:  "tap closed",
		Failed: func(what string, err error) {
			if !t.started.Load() {
				msg := what + ": " + err.Error()
				t.startErr.Store(&msg)
			}
		},
	}
}
