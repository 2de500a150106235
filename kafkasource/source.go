package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/kafkaparts"
	"github.com/orbital-e2e/orbital/webhook"
)

// Names under which a recorded message carries its key and position, in
// webhook.Request.Header. They replace Kafka headers of the same name.
const (
	HeaderKey       = "Kafka-Key"       // the message key, absent when the message has none
	HeaderTopic     = "Kafka-Topic"     // the topic it was read from
	HeaderPartition = "Kafka-Partition" // its partition, in decimal
	HeaderOffset    = "Kafka-Offset"    // its offset, in decimal
	HeaderTimestamp = "Kafka-Timestamp" // its timestamp (as written), RFC 3339 with nanoseconds
)

// Proto is the webhook.Request.Proto of a recorded message. Its Method is
// empty: it did not come over HTTP.
const Proto = "kafka"

// MessageKey is a key function for webhook.NewRouteLogger: a recorded
// message's key (the HeaderKey header). A message without a key gives "",
// which matches nothing.
func MessageKey(r webhook.Request) string {
	if v := r.Header[HeaderKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// queueCapacity is how many messages each partition's reader holds ahead
// of the Logger.
const queueCapacity = 16

// Source consumes Config.Topics and records every message in Config.Logger.
// Create it with New, then Start it once; Close stops it. It is safe for
// concurrent use.
type Source struct {
	cfg      Config
	client   *kafkaparts.Client
	parts    []*partition
	progress kafkaparts.Progress // notified whenever a message is processed

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	starting atomic.Bool
	started  atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// partition is one topic partition and its reader.
type partition struct {
	kafkaparts.Partition
	tags []stats.Tag
}

// New validates cfg and returns a Source that reads nothing until Start.
func New(cfg Config) (*Source, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.client = &kafkaparts.Client{
		Kafka:   &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second, Transport: cfg.Transport},
		Pkg:     "kafkasource",
		Brokers: cfg.Brokers,
		Log:     cfg.Log,
	}
	return s, nil
}

// Start positions one reader per partition of every topic (see the package
// doc: Config.Grace back, or the partition's end) and starts reading. It
// returns once every partition's starting offset is fixed, so every message
// written after Start returns will be recorded. While ctx lasts it retries
// what may be transient (Kafka unreachable, a topic not created yet); then
// it returns an error naming what failed. ctx bounds only Start: the source
// reads until Close. Start may be called once; to restart, Close and Start
// a new Source (there is no group membership to wait for).
func (s *Source) Start(ctx context.Context) error {
	if !s.starting.CompareAndSwap(false, true) {
		return errors.New("kafkasource: Start called twice")
	}
	if s.ctx.Err() != nil {
		return errors.New("kafkasource: Start after Close")
	}
	from := time.Now().Add(-s.cfg.Grace)
	if s.cfg.Grace < 0 {
		from = time.Time{}
	}
	parts, err := s.discover(ctx)
	if err != nil {
		return err
	}
	starts, err := s.startOffsets(ctx, parts, from)
	if err != nil {
		return err
	}
	for i, p := range parts {
		p.Reader = s.newReader(p)
		if err := p.Reader.SetOffset(starts[i]); err != nil {
			s.parts = parts[:i+1]
			s.closeReaders()
			return fmt.Errorf("kafkasource: position reader of %s/%d at %d: %w", p.Topic, p.ID, starts[i], err)
		}
		p.Processed.Store(starts[i])
	}
	s.parts = parts
	s.zeroSeries(parts)
	for _, p := range parts {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.consume(p)
		}()
	}
	s.started.Store(true)
	s.cfg.Log.Info("kafkasource started", "brokers", s.cfg.Brokers, "topics", s.cfg.Topics,
		"partitions", len(parts), "grace", s.cfg.Grace)
	return nil
}

// discover returns the partitions of the topics, in order.
func (s *Source) discover(ctx context.Context) ([]*partition, error) {
	var parts []*partition
	for _, topic := range s.cfg.Topics {
		ids, err := s.client.Partitions(ctx, topic)
		if err != nil {
			return nil, err
		}
		tag := stats.T("topic", padded(topic))
		for _, id := range ids {
			parts = append(parts, &partition{Partition: kafkaparts.Partition{Topic: topic, ID: id}, tags: []stats.Tag{tag}})
		}
	}
	return parts, nil
}

// startOffsets returns where each partition of parts is read from: its
// first message at or after from by timestamp, but no later than its end
// (its end at the zero from).
func (s *Source) startOffsets(ctx context.Context, parts []*partition, from time.Time) ([]int64, error) {
	// The end offsets first: a message written after this is at or past
	// them, whatever its timestamp, so starting no later than them misses
	// nothing written after Start.
	starts, err := kafkaparts.Offsets(ctx, s.client, parts, time.Time{})
	if err != nil || from.IsZero() {
		return starts, err
	}
	byTime, err := kafkaparts.Offsets(ctx, s.client, parts, from)
	if err != nil {
		return nil, err
	}
	for i, off := range byTime {
		if off >= 0 && off < starts[i] {
			starts[i] = off
		}
	}
	return starts, nil
}

func (s *Source) newReader(p *partition) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        s.cfg.Brokers,
		Topic:          p.Topic,
		Partition:      p.ID,
		MinBytes:       1,
		MaxBytes:       max(2*s.cfg.MaxValueBytes, 1<<20),
		MaxWait:        s.cfg.MaxWait,
		QueueCapacity:  queueCapacity,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: time.Second,
		Logger:         s.kafkaLogger("reader", p),
		ErrorLogger:    s.kafkaLogger("reader", p),
		Dialer:         s.cfg.Dialer,
	})
}

// zeroSeries creates every series of Config.Stats at 0 (the partitions
// gauge at its count), so that dashboards see them before any message.
func (s *Source) zeroSeries(parts []*partition) {
	e := s.cfg.Stats
	if e == nil {
		return
	}
	counts := map[string]int{}
	tags := map[string]stats.Tag{}
	for _, p := range parts {
		counts[p.Topic]++
		tags[p.Topic] = p.tags[0]
	}
	for _, topic := range s.cfg.Topics {
		t := tags[topic]
		e.Add("kafkasource.received_total", 0, t)
		e.Add("kafkasource.errors_total", 0, t)
		e.Add("kafkasource.dropped_total", 0, t, stats.T("reason", "too_large"))
		e.Set("kafkasource.partitions", counts[topic], t)
	}
}

// consume reads p until the source closes.
func (s *Source) consume(p *partition) {
	for {
		m, err := p.Reader.ReadMessage(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			// The reader keeps retrying (with backoff) after it reports an
			// error, so count it and read on.
			s.incr("kafkasource.errors_total", p.tags...)
			s.cfg.Log.Warn("kafkasource: reading failed; retrying", "topic", p.Topic, "partition", p.ID, "err", err)
			continue
		}
		if len(m.Value) > s.cfg.MaxValueBytes {
			s.incr("kafkasource.dropped_total", p.tags[0], stats.T("reason", "too_large"))
			s.cfg.Log.Warn("kafkasource: message value too large; not recorded", "topic", p.Topic,
				"partition", p.ID, "offset", m.Offset, "bytes", len(m.Value), "max", s.cfg.MaxValueBytes)
		} else {
			s.cfg.Logger.Record(toRequest(m, time.Now()))
			s.incr("kafkasource.received_total", p.tags...)
		}
		p.Processed.Store(m.Offset + 1)
		s.progress.Notify()
	}
}

// toRequest is the delivery recorded for m.
func toRequest(m kafka.Message, now time.Time) webhook.Request {
	h := make(http.Header, len(m.Headers)+5)
	for _, kh := range m.Headers {
		k := textproto.CanonicalMIMEHeaderKey(kh.Key)
		h[k] = append(h[k], string(kh.Value))
	}
	delete(h, HeaderKey)
	if m.Key != nil {
		h[HeaderKey] = []string{string(m.Key)}
	}
	part, off := strconv.Itoa(m.Partition), strconv.FormatInt(m.Offset, 10)
	h[HeaderTopic] = []string{m.Topic}
	h[HeaderPartition] = []string{part}
	h[HeaderOffset] = []string{off}
	h[HeaderTimestamp] = []string{m.Time.UTC().Format(time.RFC3339Nano)}
	return webhook.Request{
		Proto:      Proto,
		RawURL:     "kafka://" + m.Topic + "/" + part + "/" + off,
		Header:     h,
		Body:       string(m.Value),
		ReceivedAt: now,
	}
}

func (s *Source) incr(name string, tags ...stats.Tag) {
	if s.cfg.Stats != nil {
		s.cfg.Stats.Incr(name, tags...)
	}
}

// Sync blocks until every message written to the topics before Sync was
// called has been recorded (or dropped), or until ctx ends. After a
// producer's write returned, Sync guarantees the Logger has seen the
// message. It costs one Kafka request (retried while ctx lasts).
func (s *Source) Sync(ctx context.Context) error {
	if !s.started.Load() || s.ctx.Err() != nil {
		return errors.New("kafkasource: Sync on a source not started or closed")
	}
	ends, err := kafkaparts.Offsets(ctx, s.client, s.parts, time.Time{})
	if err != nil {
		return err
	}
	return kafkaparts.Wait(ctx, &s.progress, s.ctx.Done(), s.parts, ends, "kafkasource", "source closed")
}

// Close stops the readers and waits for the source's goroutines; each
// reader first finishes its fetch in flight (at most Config.MaxWait). There
// is no consumer group to leave. Close is idempotent and may be called
// without Start.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.closeErr = s.closeReaders()
		s.wg.Wait()
		if s.started.Load() {
			s.cfg.Log.Info("kafkasource closed", "topics", s.cfg.Topics)
		}
	})
	return s.closeErr
}

// closeReaders closes the readers concurrently.
func (s *Source) closeReaders() error { return kafkaparts.CloseReaders(s.parts) }

func (s *Source) kafkaLogger(component string, p *partition) kafka.Logger {
	log := s.cfg.Log.With("component", component, "topic", p.Topic, "partition", p.ID)
	return kafka.LoggerFunc(func(msg string, args ...any) {
		log.Debug("kafka-go: " + fmt.Sprintf(msg, args...))
	})
}

// padded returns a copy of s with one spare byte after it. The stats/v4
// Prometheus handler hashes label values with segmentio/fasthash, which steps
// a pointer one past the end of an even-length string; when the string ends
// exactly where its allocation ends, the race detector's checkptr aborts the
// process ("pointer arithmetic result points to invalid allocation"). Label
// values made from the caller's strings are padded so that cannot happen.
func padded(s string) string {
	return (s + "\x00")[:len(s)]
}
