package kafkatap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"
)

// Sighting is one record of a pending key read from one of the topics.
type Sighting struct {
	Topic     string
	Partition int
	Offset    int64
	Time      time.Time // the record's Kafka timestamp
	SeenAt    time.Time // when the tap read it

	// DeadLetter is set for a record in a dead-letter topic (by its name,
	// see IsDeadLetterTopic) or carrying an error header (error, x-error,
	// kafka_dlt-exception-message, __connect.errors.exception.message).
	DeadLetter bool

	// Headers holds, for a dead-letter record, its headers (error,
	// attempts, status, destination; Spring's kafka_dlt-*; Kafka Connect's
	// __connect.errors.*), names as written, a repeated name keeping its
	// last value; for any record, traceparent when present. At most
	// MaxHeaders names, each value cut to MaxHeaderBytes; a value that is
	// not printable UTF-8 is shown as "0x" and hex. Nil when none.
	Headers map[string]string
}

// ErrFull is returned by Watch when Config.MaxKeys keys are pending.
var ErrFull = errors.New("kafkatap: too many pending keys (Config.MaxKeys); Forget the keys no longer waited for")

// queueCapacity is how many records each partition's reader holds ahead of
// the tap.
const queueCapacity = 64

// flushEvery is how often the record counters reach Config.Stats.
const flushEvery = time.Second

// Tap reads Config.Topics from their end and keeps, for every pending key
// (Watch), where its records were seen. Create it with New, Start it once,
// Close it. It is safe for concurrent use.
type Tap struct {
	cfg    Config
	client *kafka.Client
	parts  []*partition // set by Start (under lifeMu), then read-only

	mu          sync.RWMutex
	keys        map[string]*entry
	headerBytes int          // over all entries, under mu
	npending    atomic.Int64 // len(keys), read without mu on every record

	progressMu sync.Mutex
	progress   chan struct{} // closed and replaced after a record while syncers > 0
	syncers    atomic.Int64

	flushMu  sync.Mutex
	startErr atomic.Pointer[string] // the last failure of Start's requests

	lifeMu    sync.Mutex // Start's setting up against Close
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	starting  atomic.Bool
	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// entry is a pending key's sightings.
type entry struct {
	sightings   []Sighting
	dropped     int
	headerBytes int // of the sightings' headers
}

// partition is one topic partition and its reader.
type partition struct {
	topic     string
	id        int
	dead      bool // the topic's name marks it as a dead-letter topic
	tag       stats.Tag
	reader    *kafka.Reader
	processed atomic.Int64 // offset after the last record handled
	records   atomic.Int64
	reported  int64                  // records already added to Stats, under flushMu
	errAt     atomic.Int64           // unix nanoseconds of an error since the last record, or 0
	errMsg    atomic.Pointer[string] // that error
}

// New validates cfg and returns a Tap that reads nothing until Start.
func New(cfg Config) (*Tap, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Tap{
		cfg:      cfg,
		client:   &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second, Transport: cfg.Transport},
		keys:     make(map[string]*entry),
		progress: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Topics returns the topics the tap reads (a copy of Config.Topics).
func (t *Tap) Topics() []string { return append([]string(nil), t.cfg.Topics...) }

// Start positions one reader at the end of every partition of every topic
// and starts reading; it uses no consumer group and commits nothing. It
// returns once every partition's starting offset is fixed, so every record
// written after Start returns is read. While ctx lasts it retries what may
// be transient (Kafka unreachable, a topic not created yet); then it
// returns an error naming what failed. ctx bounds only Start: the tap reads
// until Close. Start may be called once.
func (t *Tap) Start(ctx context.Context) error {
	if !t.starting.CompareAndSwap(false, true) {
		return errors.New("kafkatap: Start called twice")
	}
	if t.ctx.Err() != nil {
		return errors.New("kafkatap: Start after Close")
	}
	parts, ends, err := t.discover(ctx)
	if err != nil {
		return err
	}
	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	if t.ctx.Err() != nil {
		return errors.New("kafkatap: closed during Start")
	}
	for i, p := range parts {
		p.reader = t.newReader(p)
		if err := p.reader.SetOffset(ends[i]); err != nil {
			t.parts = parts[:i+1]
			t.closeReaders()
			t.parts = nil
			return fmt.Errorf("kafkatap: position reader of %s/%d at %d: %w", p.topic, p.id, ends[i], err)
		}
		p.processed.Store(ends[i])
	}
	t.parts = parts
	t.zeroSeries()
	for _, p := range parts {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.consume(p)
		}()
	}
	if t.cfg.Stats != nil {
		t.wg.Add(1)
		go t.flushLoop()
	}
	t.started.Store(true)
	t.cfg.Log.Info("kafkatap started", "brokers", t.cfg.Brokers, "topics", t.cfg.Topics, "partitions", len(parts))
	return nil
}

// discover returns the partitions of the topics and their end offsets.
func (t *Tap) discover(ctx context.Context) ([]*partition, []int64, error) {
	var parts []*partition
	for _, topic := range t.cfg.Topics {
		ids, err := t.partitions(ctx, topic)
		if err != nil {
			return nil, nil, err
		}
		tag := stats.T("topic", padded(topic))
		for _, id := range ids {
			parts = append(parts, &partition{topic: topic, id: id, dead: IsDeadLetterTopic(topic), tag: tag})
		}
	}
	ends, err := t.offsets(ctx, parts)
	return parts, ends, err
}

func (t *Tap) newReader(p *partition) *kafka.Reader {
	log := t.cfg.Log.With("component", "kafkatap", "topic", p.topic, "partition", p.id)
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        t.cfg.Brokers,
		Topic:          p.topic,
		Partition:      p.id,
		MinBytes:       t.cfg.MinBytes,
		MaxBytes:       max(4<<20, t.cfg.MinBytes),
		MaxWait:        t.cfg.MaxWait,
		QueueCapacity:  queueCapacity,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: time.Second,
		Logger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka-go: " + fmt.Sprintf(msg, args...))
		}),
		// kafka-go reports here the errors it retries by itself.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			t.failed(p, fmt.Sprintf(msg, args...))
		}),
		Dialer: t.cfg.Dialer,
	})
}

// consume reads p until the tap closes.
func (t *Tap) consume(p *partition) {
	for {
		m, err := p.reader.ReadMessage(t.ctx)
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			t.failed(p, err.Error())
			continue
		}
		if p.errAt.Load() != 0 {
			p.errAt.Store(0)
		}
		p.records.Add(1)
		if t.npending.Load() > 0 {
			t.observe(p, &m)
		}
		p.processed.Store(m.Offset + 1)
		if t.syncers.Load() > 0 {
			t.progressMu.Lock()
			close(t.progress)
			t.progress = make(chan struct{})
			t.progressMu.Unlock()
		}
	}
}

// failed notes a read error of p: counted, logged, and Err reports it.
func (t *Tap) failed(p *partition, msg string) {
	if t.ctx.Err() != nil {
		return // closing: the readers' connections end
	}
	p.errMsg.Store(&msg)
	p.errAt.Store(time.Now().UnixNano())
	t.incr("tap.errors_total", p.tag)
	t.cfg.Log.Warn("kafkatap: reading failed; retrying", "topic", p.topic, "partition", p.id, "err", msg)
}

// Err returns nil while the tap reads; otherwise why it cannot: not
// started (with the last failure of Start's requests), closed, or a read
// error of some partition in the last ErrWindow (10s) that no record read
// from that partition since has cleared. For health checks and reports;
// the tap retries by itself.
func (t *Tap) Err() error {
	if t.ctx.Err() != nil {
		return errors.New("kafkatap: closed")
	}
	if !t.started.Load() {
		if msg := t.startErr.Load(); msg != nil {
			return fmt.Errorf("kafkatap: not started: %s", *msg)
		}
		return errors.New("kafkatap: not started")
	}
	now := time.Now()
	for _, p := range t.parts {
		at := p.errAt.Load()
		if at == 0 || now.Sub(time.Unix(0, at)) > ErrWindow {
			continue
		}
		msg := ""
		if m := p.errMsg.Load(); m != nil {
			msg = *m
		}
		return fmt.Errorf("kafkatap: reading %s/%d: %s (%s ago)", p.topic, p.id, msg, now.Sub(time.Unix(0, at)).Round(time.Millisecond))
	}
	return nil
}

// Close stops the readers and waits for the tap's goroutines; each reader
// first finishes its fetch in flight (at most Config.MaxWait). There is no
// consumer group to leave. Close is idempotent and may be called without
// Start. The sightings stay readable.
func (t *Tap) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		t.lifeMu.Lock()
		t.closeErr = t.closeReaders()
		t.lifeMu.Unlock()
		t.wg.Wait()
		if t.started.Load() {
			t.flush()
			t.cfg.Log.Info("kafkatap closed", "topics", t.cfg.Topics)
		}
	})
	return t.closeErr
}

// closeReaders closes the readers concurrently.
func (t *Tap) closeReaders() error {
	errs := make([]error, len(t.parts))
	var wg sync.WaitGroup
	for i, p := range t.parts {
		if p.reader == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.reader.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
