package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/orbital"
)

// Defaults of a ResultsConfig.
const (
	DefaultResultsRetention      = 24 * time.Hour
	DefaultResultsRetentionBytes = 256 << 20
	DefaultResultsMaxOutput      = 16 << 10
	resultsQueue                 = 4096 // results waiting to be published
	maxResultError               = 4 << 10
	closeFlush                   = 3 * time.Second
)

// headTail keeps the first and last part of s within n bytes (on rune
// boundaries) and returns the bytes left out.
func headTail(s string, n int) (string, int) {
	if len(s) <= n {
		return s, 0
	}
	h, t := n/2, len(s)-n/2
	for h > 0 && s[h]&0xC0 == 0x80 {
		h--
	}
	for t < len(s) && s[t]&0xC0 == 0x80 {
		t++
	}
	return s[:h] + "\n    … " + strconv.Itoa(t-h) + " bytes of log left out …\n" + s[t:], t - h
}

// ResultsConfig configures StartResults. Brokers, Topic and Feed are
// required.
type ResultsConfig struct {
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Topic is the results topic, "<cluster-topic>-results". It is created
	// with one partition (so every reader sees the results in the same
	// order) and the retention below. Required.
	Topic string
	// Replica names this process in the results it publishes. Required.
	Replica string
	// Feed receives every result read from the topic, this replica's own
	// included, in topic order, from one goroutine: the results of the last
	// Retention at start-up, then each new one. Required.
	Feed func(r orbital.Result, replica string)
	// Retention is the topic's retention.ms when StartResults creates it, and
	// how far back start-up replays (by each result's own Start). Default: 24h.
	Retention time.Duration
	// RetentionBytes is the topic's retention.bytes when StartResults creates
	// it. Default: 256 MiB.
	RetentionBytes int64
	// MaxOutput bounds the log published per result: a longer log keeps its
	// head and tail. Default: 16 KiB.
	MaxOutput int
	// Stats receives cluster.results_total{result=published|dropped|read|invalid}.
	// Default: discarded.
	Stats *stats.Engine
	// Logger receives the warnings. Default: discarded.
	Logger *slog.Logger

	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// sharedResult is one message of the results topic.
type sharedResult struct {
	Replica string         `json:"replica"`
	Result  orbital.Result `json:"result"`
}

// Results shares the results of every replica through the results topic: it
// is an orbital.Reporter that publishes each result of this replica (never
// blocking the scheduler: a full queue drops and counts), and it feeds every
// result of the topic, its own included, to ResultsConfig.Feed. Start it with
// StartResults and stop it with Close. It is safe for concurrent use.
type Results struct {
	cfg     ResultsConfig
	writer  *kafka.Writer
	reader  *kafka.Reader
	queue   chan kafka.Message
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	stop    chan struct{} // closed by Close: publish what is queued, then return
	pubDone chan struct{}
	read    atomic.Int64 // offset of the next result to feed
	lastMu  sync.Mutex
	last    map[string]time.Time // case → latest start of a top-level run, any replica
	dropped atomic.Int64
}

// StartResults creates the results topic unless it exists, feeds the results
// of the last Retention (by their own start time) and returns once they all
// are fed, so a restarted replica answers with the history it had. Then it
// keeps feeding new results until Close. ctx bounds only the start.
func StartResults(ctx context.Context, cfg ResultsConfig) (*Results, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Feed == nil || cfg.Replica == "" {
		return nil, errors.New("cluster: ResultsConfig needs Brokers, Topic, Replica and Feed")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultResultsRetention
	}
	if cfg.RetentionBytes <= 0 {
		cfg.RetentionBytes = DefaultResultsRetentionBytes
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultResultsMaxOutput
	}
	if cfg.Stats == nil {
		cfg.Stats = stats.NewEngine("", stats.Discard)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ccfg := Config{Brokers: cfg.Brokers, dial: cfg.dial, Logger: cfg.Logger}
	n := &Node{cfg: ccfg, client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second, Transport: ccfg.transport()}}
	if err := createResultsTopic(ctx, n, cfg); err != nil {
		return nil, err
	}
	first, end, err := resultOffsets(ctx, n, cfg.Topic)
	if err != nil {
		return nil, err
	}
	r := &Results{last: make(map[string]time.Time), cfg: cfg, queue: make(chan kafka.Message, resultsQueue), stop: make(chan struct{}), pubDone: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.writer = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  5,
		WriteTimeout: 5 * time.Second,
		ReadTimeout:  5 * time.Second,
		Transport:    ccfg.transport(),
	}
	r.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		Topic:          cfg.Topic,
		Partition:      0,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: time.Second,
		Dialer:         ccfg.dialer(),
	})
	if err := r.reader.SetOffset(first); err != nil {
		r.reader.Close()
		return nil, fmt.Errorf("cluster: position the results reader: %w", err)
	}
	r.read.Store(first)
	caught := make(chan struct{})
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.consume(end, caught) }()
	go func() { defer close(r.pubDone); r.publish() }()
	select {
	case <-caught:
	case <-ctx.Done():
		r.Close()
		return nil, fmt.Errorf("cluster: replaying %s (at %d of %d): %w", cfg.Topic, r.read.Load(), end, ctx.Err())
	}
	cfg.Logger.Info("results topic replayed", "topic", cfg.Topic, "results", end-first)
	return r, nil
}

func createResultsTopic(ctx context.Context, n *Node, cfg ResultsConfig) error {
	req := &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: cfg.Topic, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(cfg.Retention.Milliseconds(), 10)},
			{ConfigName: "retention.bytes", ConfigValue: strconv.FormatInt(cfg.RetentionBytes, 10)},
		},
	}}}
	return retry(ctx, n, "create topic "+cfg.Topic, func() error {
		resp, err := n.client.CreateTopics(ctx, req)
		if err != nil {
			return err
		}
		if err := resp.Errors[cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return err
		}
		return nil
	})
}

func resultOffsets(ctx context.Context, n *Node, topic string) (first, end int64, err error) {
	err = retry(ctx, n, "list offsets of "+topic, func() error {
		resp, err := n.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)},
		}})
		if err != nil {
			return err
		}
		got := resp.Topics[topic]
		if len(got) != 1 {
			return fmt.Errorf("%d partitions in the answer, want 1", len(got))
		}
		if got[0].Error != nil {
			return got[0].Error
		}
		first, end = got[0].FirstOffset, got[0].LastOffset
		return nil
	})
	return first, end, err
}

// Report publishes r: it is the orbital.Reporter of this replica's Service.
// It never blocks; when the queue is full (Kafka unreachable for long) the
// result is dropped, counted and logged once per burst.
func (r *Results) Report(res orbital.Result) {
	res.Subtests = nil // each subtest is reported on its own
	res.Output, _ = headTail(res.Output, r.cfg.MaxOutput)
	if len(res.Error) > maxResultError {
		res.Error = res.Error[:maxResultError]
	}
	b, err := json.Marshal(sharedResult{Replica: r.cfg.Replica, Result: res})
	if err != nil {
		return
	}
	select {
	case r.queue <- kafka.Message{Key: []byte(res.Case), Value: b}:
	default:
		if r.dropped.Add(1) == 1 {
			r.cfg.Logger.Warn("cluster: results queue full; results are not shared", "topic", r.cfg.Topic)
		}
		r.cfg.Stats.Incr("cluster.results_total", stats.T("result", "dropped"))
	}
}

func (r *Results) publish() {
	batch := make([]kafka.Message, 0, 64)
	for {
		select {
		case <-r.stop:
			r.flush(batch[:0])
			return
		case m := <-r.queue:
			batch = append(batch[:0], m)
		}
		batch = r.fill(batch)
		for {
			err := r.writer.WriteMessages(r.ctx, batch...)
			if err == nil {
				r.cfg.Stats.Add("cluster.results_total", len(batch), stats.T("result", "published"))
				r.dropped.Store(0)
				break
			}
			r.cfg.Logger.Warn("cluster: publishing results failed; retrying", "topic", r.cfg.Topic, "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-r.stop:
				t.Stop()
				r.flush(batch)
				return
			case <-t.C:
			}
		}
	}
}

// fill adds queued messages to batch up to its capacity.
func (r *Results) fill(batch []kafka.Message) []kafka.Message {
	for len(batch) < cap(batch) {
		select {
		case m := <-r.queue:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// flush publishes batch and what is still queued, within closeFlush.
func (r *Results) flush(batch []kafka.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), closeFlush)
	defer cancel()
	for {
		batch = r.fill(batch)
		if len(batch) == 0 {
			return
		}
		if err := r.writer.WriteMessages(ctx, batch...); err != nil {
			r.cfg.Logger.Warn("cluster: results not published at close", "results", len(batch)+len(r.queue), "err", err)
			return
		}
		r.cfg.Stats.Add("cluster.results_total", len(batch), stats.T("result", "published"))
		batch = batch[:0]
	}
}

// consume feeds every result; caught is closed once the offset end (the end
// at start) is reached.
func (r *Results) consume(end int64, caught chan struct{}) {
	closed := false
	check := func() {
		if !closed && r.read.Load() >= end {
			close(caught)
			closed = true
		}
	}
	check()
	horizon := time.Now().Add(-r.cfg.Retention)
	for {
		m, err := r.reader.ReadMessage(r.ctx)
		if err != nil {
			if r.ctx.Err() == nil {
				r.cfg.Logger.Warn("cluster: results reader stopped", "err", err)
			}
			return
		}
		var sr sharedResult
		if err := json.Unmarshal(m.Value, &sr); err != nil || sr.Result.Case == "" {
			r.cfg.Stats.Incr("cluster.results_total", stats.T("result", "invalid"))
		} else if closed || !sr.Result.Start.Before(horizon) {
			r.cfg.Stats.Incr("cluster.results_total", stats.T("result", "read"))
			r.noteStart(sr.Result)
			r.cfg.Feed(sr.Result, sr.Replica)
		}
		r.read.Store(m.Offset + 1)
		check()
	}
}

// maxLastStarts bounds the case names LastStart remembers.
const maxLastStarts = 10_000

func (r *Results) noteStart(res orbital.Result) {
	if res.Parent != "" {
		return
	}
	r.lastMu.Lock()
	if t, ok := r.last[res.Case]; (ok && res.Start.After(t)) || (!ok && len(r.last) < maxLastStarts) {
		r.last[res.Case] = res.Start
	}
	r.lastMu.Unlock()
}

// LastStart returns when a run of caseName last started on any replica, as
// far as the results read so far tell (a run is known once it ended): pass
// it to orbital.WithLastStart, so a case taken over in a clean rebalance
// waits for its period instead of running twice in it.
func (r *Results) LastStart(caseName string) (time.Time, bool) {
	r.lastMu.Lock()
	defer r.lastMu.Unlock()
	t, ok := r.last[caseName]
	return t, ok
}

// Close publishes the results still queued (for at most 3s), then stops
// reading. Report after Close drops. It is idempotent.
func (r *Results) Close() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		<-r.pubDone // queued results are published (within closeFlush)
		r.cancel()
		err = errors.Join(r.reader.Close())
		r.wg.Wait()
		err = errors.Join(err, r.writer.Close())
	})
	return err
}
