// Package embedkafka runs an in-process Kafka-protocol broker for the
// embedded default, the example pipeline and tests, so that nothing needs a
// real Kafka installed. It wraps github.com/twmb/franz-go/pkg/kfake, a fake
// cluster that speaks the real wire protocol: github.com/segmentio/kafka-go
// writers, readers and consumer groups work against it unchanged.
//
// The broker keeps everything in memory unless Config.DataDir is set; with a
// fixed Config.Addr and a DataDir, a test can close a broker and start a new
// one on the same address that still holds the topics, records and committed
// offsets of the first.
//
// Retention is bounded by default, so a long-running process on the embedded
// broker (`e2e serve`'s embedded default, `make run`) does not grow with
// every event: every topic, including topics clients create later with
// CreateTopics, keeps records for Config.Retention (default 10 minutes) and at
// most Config.RetentionBytes per partition (default 64 MiB). A background
// sweep drops older records every Retention/10 (between 50ms and 1s);
// ListOffsets for the first offset then reports the advanced log start. The
// memory of dropped records is released a segment (at most 1 MiB) at a time.
// A topic's own retention.ms / retention.bytes, set by a client through
// CreateTopics or AlterConfigs, overrides these defaults.
//
// Notes for kafka-go clients (all measured against this broker):
//   - Consumer groups work. The broker refuses session timeouts below 6s,
//     which is above kafka-go's Reader minimum; kafka-go's defaults (10s) are
//     fine. Set Reader.StartOffset to kafka.FirstOffset when a group must see
//     records written before it first joined.
//   - Lower Reader.JoinGroupBackoff (default 5s) and Reader.MaxWait (default
//     10s) to a few hundred milliseconds in tests so that reconnects after a
//     broker restart and empty fetches return quickly.
//   - The broker advertises the address it listens on, so the host in Addr
//     must be one clients can dial (use 127.0.0.1, not 0.0.0.0).
package embedkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/orbital-e2e/orbital/internal/netx"
)

// Config configures Start. The zero value starts a broker on a free loopback
// port with no topics.
type Config struct {
	// Addr is the host:port to listen on. Default: "127.0.0.1:0" (a free
	// port). A fixed address lets a test close a broker and start a new one
	// on the same address; clients reconnect to it without reconfiguration.
	Addr string

	// Topics are created at start with Partitions partitions each. Clients
	// may create more with CreateTopics.
	Topics []string

	// Partitions is the partition count for Topics and for topics created
	// with a partition count of -1. Default: 3.
	Partitions int

	// DataDir, when set, persists the broker's state (topics, records,
	// committed offsets) in that directory and reloads it at start, so a
	// restarted broker continues where the last one stopped. Default: ""
	// (memory only; a restarted broker is empty).
	DataDir string

	// Retention is how long every topic keeps a record, measured from the
	// record's timestamp (kafka-go writers stamp the write time). Default
	// (zero): DefaultRetention. Negative: keep records forever (the broker
	// then grows with every record; only for short-lived tests).
	Retention time.Duration

	// RetentionBytes bounds the size of each partition's log; the oldest
	// records are dropped beyond it. Default (zero): DefaultRetentionBytes.
	// Negative: no size bound.
	RetentionBytes int64

	// Logger receives the broker's warnings and errors. Default: discard.
	Logger *slog.Logger

	// Listener bounds the broker's client connections (see package
	// internal/netx): at most MaxConns open at once (the idlest evicted for
	// a new one), IdleTimeout without a byte closes one, and accept errors
	// such as "too many open files" are retried with a backoff instead of
	// ending the broker's accept loop. Default: netx's defaults (an eighth
	// of the fd limit, 10 minutes).
	Listener netx.Config
}

// Retention defaults for Config.
const (
	DefaultRetention      = 10 * time.Minute
	DefaultRetentionBytes = 64 << 20
)

// segmentBytes is the log segment size: memory of records dropped by
// retention is released a whole segment at a time.
const segmentBytes = 1 << 20

// Broker is a running in-process Kafka-protocol broker. It is safe for
// concurrent use.
type Broker struct {
	cluster *kfake.Cluster
	ln      *netx.Listener // set by kfake's ListenFn during Start
	closing atomic.Bool
	addrs   []string
	once    sync.Once
	stop    chan struct{} // closed by Close to stop the retention sweep
	swept   chan struct{} // closed when the retention sweep has returned
}

// Start starts a broker listening on cfg.Addr and returns once it accepts
// connections. Call Close to stop it.
func Start(cfg Config) (*Broker, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("embedkafka: bad address %q: %w", addr, err)
	}
	partitions := cfg.Partitions
	if partitions <= 0 {
		partitions = 3
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	retention, retentionBytes := cfg.Retention, cfg.RetentionBytes
	if retention == 0 {
		retention = DefaultRetention
	}
	if retentionBytes == 0 {
		retentionBytes = DefaultRetentionBytes
	}
	retentionMs, segBytes := int64(-1), int64(segmentBytes)
	if retention > 0 {
		retentionMs = max(retention.Milliseconds(), 1)
	}
	if retentionBytes < 0 {
		retentionBytes = -1
	} else {
		segBytes = min(segBytes, max(retentionBytes/4, 4<<10))
	}

	var ln *netx.Listener
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// Broker-wide defaults apply to every topic without its own
		// retention.ms / retention.bytes, including ones created later.
		kfake.BrokerConfigs(map[string]string{
			"log.retention.ms":    strconv.FormatInt(retentionMs, 10),
			"log.retention.bytes": strconv.FormatInt(retentionBytes, 10),
			"log.segment.bytes":   strconv.FormatInt(segBytes, 10),
		}),
		kfake.DefaultNumPartitions(partitions),
		kfake.ClusterID("embedkafka"),
		kfake.WithLogger(slogLogger{logger}),
		// kfake always asks to listen on 127.0.0.1:<port>; listen on the
		// configured address instead so any host:port works. kfake's accept
		// loop returns for good on the first accept error (such as "too
		// many open files"); a netx.Listener never returns one until it is
		// closed, so the broker keeps listening through fd exhaustion.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			lcfg := cfg.Listener
			if lcfg.Logger == nil {
				lcfg.Logger = logger
			}
			l, err := netx.Listen(network, addr, lcfg)
			if err != nil {
				return nil, err
			}
			ln = l
			return l, nil
		}),
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), cfg.Topics...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedkafka: start broker on %s: %w", addr, err)
	}
	b := &Broker{cluster: c, ln: ln, addrs: c.ListenAddrs(), stop: make(chan struct{}), swept: make(chan struct{})}
	// kfake only sweeps topics that carry their own retention config, so
	// the broker-wide defaults are enforced by this sweep.
	go b.sweep(sweepInterval(retention))
	logger.Debug("embedded kafka broker started", "addr", b.addrs,
		"retention", retention, "retention_bytes", retentionBytes)
	return b, nil
}

// sweepInterval is how often retention is applied: a tenth of the retention,
// between 50ms and 1s (1s when only the size is bounded).
func sweepInterval(retention time.Duration) time.Duration {
	if retention <= 0 {
		return time.Second
	}
	return min(max(retention/10, 50*time.Millisecond), time.Second)
}

// sweep applies retention to every topic every interval until Close.
func (b *Broker) sweep(interval time.Duration) {
	defer close(b.swept)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.cluster.ApplyRetention()
		}
	}
}

// Brokers returns the broker's host:port list, as kafka-go's Writer.Addr
// (kafka.TCP(b.Brokers()...)) and ReaderConfig.Brokers expect.
func (b *Broker) Brokers() []string {
	return append([]string(nil), b.addrs...)
}

// Addr returns the address the broker listens on (its only entry of Brokers).
func (b *Broker) Addr() string { return b.addrs[0] }

// ErrClosed is returned by Err and Healthy once Close was called.
var ErrClosed = errors.New("embedkafka: broker closed")

// Err reports whether the broker can still serve clients by itself: nil
// while it runs, ErrClosed after Close, and an error when its listener was
// closed without Close (its accept loop ended: no client can connect again).
// It is cheap (no I/O); a /healthz handler can call it on every probe.
func (b *Broker) Err() error {
	if b.closing.Load() {
		return ErrClosed
	}
	if b.ln != nil && b.ln.Closed() {
		return fmt.Errorf("embedkafka: broker on %s stopped listening", b.Addr())
	}
	return nil
}

// Healthy is Err followed by a Kafka ApiVersions round trip over a new
// connection, bounded by ctx (2s without a deadline): it fails when the broker does not answer,
// including while a connection flood holds every slot of its listener. Use
// Err for liveness and Healthy for readiness.
func (b *Broker) Healthy(ctx context.Context) error {
	if err := b.Err(); err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		return fmt.Errorf("embedkafka: broker on %s: %w", b.Addr(), err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	if _, err := conn.ApiVersions(); err != nil {
		return fmt.Errorf("embedkafka: broker on %s: %w", b.Addr(), err)
	}
	return nil
}

// ListenerStats returns the counters of the broker's bounded listener
// (connections open, accept errors retried, evictions, sheds, idle closes).
func (b *Broker) ListenerStats() netx.Stats {
	if b.ln == nil {
		return netx.Stats{}
	}
	return b.ln.Stats()
}

// Close stops the broker and closes its listener. It is idempotent and safe
// to call from several goroutines.
func (b *Broker) Close() {
	b.closing.Store(true)
	b.once.Do(func() {
		close(b.stop)
		<-b.swept
		b.cluster.Close()
	})
}

// slogLogger adapts a *slog.Logger to kfake.Logger. kfake's info and debug
// output (every request) is logged at slog's debug level.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelDebug
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	s.l.Log(ctx, lvl, "kfake: "+fmt.Sprintf(msg, args...))
}
