package kafkatap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"
)

// Defaults of a Config, and the fixed bounds of a Sighting's headers.
const (
	DefaultMaxSightingsPerKey = 8
	DefaultMaxKeys            = 100_000
	DefaultMaxWait            = 250 * time.Millisecond
	DefaultMaxHeaderMemory    = 16 << 20

	// MaxHeaders is how many headers a Sighting keeps at most; further
	// ones are not kept (counted, reason "headers").
	MaxHeaders = 16
	// MaxHeaderBytes is how much of a header value a Sighting keeps.
	MaxHeaderBytes = 256
	// ErrWindow is how long a read error keeps Err non-nil (see Tap.Err).
	ErrWindow = 10 * time.Second
)

// Config configures a Tap. Brokers and Topics are required; every other
// field works at its zero value and documents its default.
type Config struct {
	// Brokers is the Kafka bootstrap list (host:port). Required.
	Brokers []string

	// Topics are read, every partition of each, from their end at Start:
	// for example events, events-dead-letter, events-processed. Required;
	// they must exist by the time Start gives up (Start waits for them
	// while its context lasts).
	Topics []string

	// MaxSightingsPerKey caps the sightings kept per pending key; further
	// ones are dropped and counted (tap.dropped_total, reason "per_key",
	// and Tap.Dropped). Default: 8 (DefaultMaxSightingsPerKey).
	MaxSightingsPerKey int

	// MaxKeys caps the pending keys: Watch of one more returns ErrFull
	// (counted, reason "keys_full"). Default: 100,000 (DefaultMaxKeys).
	MaxKeys int

	// MaxHeaderMemory caps the memory of the headers kept over all
	// sightings (names, values and the maps holding them, approximately);
	// beyond it a sighting is kept without its headers (counted, reason
	// "headers"). Default: 16 MiB (DefaultMaxHeaderMemory).
	MaxHeaderMemory int

	// MaxWait is how long one fetch waits on the broker for new records.
	// It also bounds Close, which waits for the fetches in flight.
	// Default: 250ms (DefaultMaxWait).
	MaxWait time.Duration

	// MinBytes is how many bytes the broker gathers before it answers a
	// fetch, unless MaxWait passes first. Default: 1, each record is read
	// as soon as it is written. Larger (say 64 KiB) lets the broker batch:
	// fewer fetches cut the CPU per record (BENCHMARKS.md, "Kafka tap"),
	// but a record may then be read up to MaxWait late, and Sync waits as
	// long.
	MinBytes int

	// Stats receives the metrics named in the package doc (docs/metrics.md),
	// every series created at 0 by Start. Default: nil, no metrics.
	Stats *stats.Engine

	// Log receives the tap's logs (kafka-go's own at debug level).
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
		return c, errors.New("kafkatap: Config.Brokers is empty")
	}
	for _, b := range c.Brokers {
		if b == "" {
			return c, errors.New("kafkatap: Config.Brokers holds an empty address")
		}
	}
	if len(c.Topics) == 0 {
		return c, errors.New("kafkatap: Config.Topics is empty")
	}
	seen := make(map[string]bool, len(c.Topics))
	for _, t := range c.Topics {
		if t == "" {
			return c, errors.New("kafkatap: Config.Topics holds an empty topic name")
		}
		if seen[t] {
			return c, fmt.Errorf("kafkatap: Config.Topics names %q twice", t)
		}
		seen[t] = true
	}
	if c.MaxSightingsPerKey < 0 || c.MaxKeys < 0 || c.MaxHeaderMemory < 0 || c.MaxWait < 0 || c.MinBytes < 0 {
		return c, fmt.Errorf("kafkatap: Config.MaxSightingsPerKey (%d), MaxKeys (%d), MaxHeaderMemory (%d), MaxWait (%v) and MinBytes (%d) may not be negative",
			c.MaxSightingsPerKey, c.MaxKeys, c.MaxHeaderMemory, c.MaxWait, c.MinBytes)
	}
	if c.MaxHeaderMemory == 0 {
		c.MaxHeaderMemory = DefaultMaxHeaderMemory
	}
	if c.MinBytes == 0 {
		c.MinBytes = 1
	}
	if c.MaxSightingsPerKey == 0 {
		c.MaxSightingsPerKey = DefaultMaxSightingsPerKey
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}
