package kafkasource

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/kafkaparts"
	"github.com/orbital-e2e/orbital/webhook"
)

// Defaults of a Config.
const (
	DefaultGrace         = 30 * time.Second
	DefaultMaxValueBytes = webhook.DefaultMaxBodyBytes
	DefaultMaxWait       = 250 * time.Millisecond
)

// Config configures a Source. Brokers, Topics and Logger are required;
// every other field works at its zero value and documents its default.
type Config struct {
	// Brokers is the Kafka bootstrap list (host:port). Required.
	Brokers []string

	// Topics are read, every partition of each. Required; they must exist
	// by the time Start gives up (Start waits for them while its context
	// lasts).
	Topics []string

	// Logger receives every message as a webhook.Request, from one
	// goroutine per partition: usually the *webhook.RouteLogger the tests
	// wait on. Required.
	Logger webhook.Logger

	// Grace is how far back before Start messages are read, by their
	// timestamp, so that a message the pipeline wrote just before the
	// tester started is still seen. Negative: none, reading starts at each
	// partition's end. Default (zero): 30s (DefaultGrace). Keep it below the
	// RouteLogger's own grace (webhook.WithGrace, 1 minute by default), which
	// is how long such a message waits for its Sent.
	Grace time.Duration

	// MaxValueBytes caps the value of a recorded message; larger ones are
	// dropped and counted (kafkasource.dropped_total, reason "too_large").
	// Default: 1 MiB (DefaultMaxValueBytes, as a Webhook's body cap).
	MaxValueBytes int

	// MaxWait is how long one fetch waits on the broker for new messages.
	// It also bounds Close, which waits for the fetches in flight.
	// Default: 250ms (DefaultMaxWait).
	MaxWait time.Duration

	// Stats receives the metrics named in the package doc. Default: nil,
	// no metrics.
	Stats *stats.Engine

	// Log receives the source's logs (kafka-go's own at debug level).
	// Default: discarded.
	Log *slog.Logger

	// Dialer opens the readers' connections (TLS, SASL). Default: kafka-go's
	// default dialer.
	Dialer *kafka.Dialer

	// Transport carries the metadata and offset requests of Start and Sync
	// (TLS, SASL: configure it as Dialer). Default: kafka-go's default
	// transport.
	Transport kafka.RoundTripper
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, errors.New("kafkasource: Config.Brokers is empty")
	}
	if err := kafkaparts.CheckTopics("kafkasource", c.Topics); err != nil {
		return c, err
	}
	if c.Logger == nil {
		return c, errors.New("kafkasource: Config.Logger (where messages are recorded, usually a *webhook.RouteLogger) is nil")
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}
