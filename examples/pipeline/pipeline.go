package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	stats "github.com/segmentio/stats/v4"
)

// Pipeline is the example event pipeline: tracking API, Kafka writer, worker
// and webhook delivery. Create it with New, start it with Start, serve
// Handler, stop it with Close. It is safe for concurrent use.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	stats  *stats.Engine
	faults atomic.Pointer[Faults]

	transport *kafka.Transport // admin and readiness requests
	client    *kafka.Client
	writer    *kafka.Writer // ingest
	dlq       *kafka.Writer // dead letters
	out       *kafka.Writer // Config.OutputTopic, or nil

	mu       sync.RWMutex // guards started, closing
	started  bool
	closing  bool
	ingestWG sync.WaitGroup // in-flight ingest requests

	worker *worker

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a Pipeline that is not yet running.
func New(cfg Config) (*Pipeline, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, log: cfg.Logger, stats: cfg.Stats}
	f := cfg.Faults
	p.faults.Store(&f)
	p.transport = &kafka.Transport{DialTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	p.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second, Transport: p.transport}
	errLog := kafka.LoggerFunc(func(msg string, args ...any) {
		p.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...))
	})
	newWriter := func(topic string) *kafka.Writer {
		return &kafka.Writer{
			Addr:            kafka.TCP(cfg.Brokers...),
			Topic:           topic,
			Balancer:        &kafka.Hash{}, // keyed by messageId
			RequiredAcks:    kafka.RequireAll,
			BatchTimeout:    cfg.WriterBatchTimeout,
			BatchSize:       500,
			MaxAttempts:     3,
			WriteBackoffMin: 50 * time.Millisecond,
			WriteBackoffMax: 500 * time.Millisecond,
			ReadTimeout:     cfg.ProduceTimeout,
			WriteTimeout:    cfg.ProduceTimeout,
			ErrorLogger:     errLog,
		}
	}
	p.writer = newWriter(cfg.Topic)
	p.dlq = newWriter(cfg.DeadLetterTopic)
	if cfg.OutputTopic != "" {
		p.out = newWriter(cfg.OutputTopic)
	}
	return p, nil
}

// Start creates the topics if they are missing (retrying while Kafka is not
// reachable, until ctx ends), then starts the worker. It returns once the
// pipeline accepts events. Start may be called once.
func (p *Pipeline) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started || p.closing {
		p.mu.Unlock()
		return errors.New("pipeline: Start called twice or after Close")
	}
	p.mu.Unlock()

	if err := p.createTopics(ctx); err != nil {
		return err
	}
	w, err := newWorker(p)
	if err != nil {
		return err
	}
	p.worker = w
	p.worker.start()

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing { // Close ran meanwhile; it did not see the worker
		p.worker.stop(ctx)
		return errors.New("pipeline: closed while starting")
	}
	p.started = true
	p.log.Info("pipeline started", "brokers", p.cfg.Brokers, "topic", p.cfg.Topic,
		"dead_letter_topic", p.cfg.DeadLetterTopic, "group", p.cfg.GroupID,
		"destinations", len(p.cfg.Destinations), "faults", p.Faults().String())
	return nil
}

// createTopics creates Topic, DeadLetterTopic and OutputTopic unless they exist.
func (p *Pipeline) createTopics(ctx context.Context) error {
	req := &kafka.CreateTopicsRequest{}
	topics := []string{p.cfg.Topic, p.cfg.DeadLetterTopic}
	if p.cfg.OutputTopic != "" {
		topics = append(topics, p.cfg.OutputTopic)
	}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic: t, NumPartitions: p.cfg.Partitions, ReplicationFactor: p.cfg.ReplicationFactor,
		})
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := p.tryCreateTopics(ctx, req)
		if err == nil {
			return nil
		}
		p.log.Warn("creating topics failed; retrying", "attempt", attempt, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("pipeline: create topics on %v: %w", p.cfg.Brokers, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (p *Pipeline) tryCreateTopics(ctx context.Context, req *kafka.CreateTopicsRequest) error {
	resp, err := p.client.CreateTopics(ctx, req)
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
}

// SetFaults replaces the injected faults; it applies to events processed from
// now on. Invalid values (probabilities outside [0, 1], negative delay) are
// clamped into range.
func (p *Pipeline) SetFaults(f Faults) {
	clamp := func(v float64) float64 {
		if !(v > 0) { // also NaN
			return 0
		}
		return min(v, 1)
	}
	f.Drop, f.Dup, f.Corrupt, f.Dest5xx, f.Lose = clamp(f.Drop), clamp(f.Dup), clamp(f.Corrupt), clamp(f.Dest5xx), clamp(f.Lose)
	f.Delay = max(f.Delay, 0)
	p.faults.Store(&f)
	p.log.Info("faults set", "faults", f.String())
}

// Faults returns the faults currently injected.
func (p *Pipeline) Faults() Faults { return *p.faults.Load() }

// Ready reports nil when the pipeline is running, not draining, and a Kafka
// broker answers a metadata request for the topic within ctx.
func (p *Pipeline) Ready(ctx context.Context) error {
	p.mu.RLock()
	started, closing := p.started, p.closing
	p.mu.RUnlock()
	switch {
	case closing:
		return errors.New("pipeline: draining")
	case !started:
		return errors.New("pipeline: not started")
	}
	var errs []error
	for _, b := range p.cfg.Brokers {
		err := p.brokerReady(ctx, b)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("pipeline: kafka unreachable: %w", errors.Join(errs...))
}

// brokerReady connects to broker and reads the topic's partitions.
func (p *Pipeline) brokerReady(ctx context.Context, broker string) error {
	conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	parts, err := conn.ReadPartitions(p.cfg.Topic)
	if err != nil {
		return fmt.Errorf("topic %s: %w", p.cfg.Topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("topic %s has no partitions", p.cfg.Topic)
	}
	return nil
}

// Close drains the pipeline: new ingest requests get 503, in-flight ones
// finish and the writer is flushed, the worker stops reading, in-flight
// deliveries finish, finished offsets are committed, and the Kafka clients
// close. If ctx ends first, unfinished deliveries are abandoned (not
// committed, so they are redelivered by the next worker of the group) and
// Close returns ctx's error. Close is idempotent.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeOnce.Do(func() { p.closeErr = p.close(ctx) })
	return p.closeErr
}

func (p *Pipeline) close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.log.Info("pipeline draining")

	var errs []error
	done := make(chan struct{})
	go func() { p.ingestWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("pipeline: waiting for ingest requests: %w", ctx.Err()))
		<-done // requests end by their ProduceTimeout
	}
	if err := p.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: flush writer: %w", err))
	}
	if p.worker != nil {
		if err := p.worker.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.dlq.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: close dead-letter writer: %w", err))
	}
	if p.out != nil {
		if err := p.out.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: close output writer: %w", err))
		}
	}
	p.transport.CloseIdleConnections()
	if t, ok := p.cfg.HTTPClient.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	err := errors.Join(errs...)
	p.log.Info("pipeline stopped", "err", err)
	return err
}

// Handler returns the pipeline's HTTP API:
//
//	POST /v1/track, /v1/page, /v1/identify,   tracking API, one call each, with the short paths
//	     /v1/screen, /v1/group, /v1/alias     analytics.js uses: /v1/t, /v1/p, /v1/i, /v1/s, /v1/g, /v1/a
//	POST /v1/batch, /v1/b                     a batch of calls
//	GET  /v1/projects/{writeKey}/settings     the source settings analytics.js loads first
//	GET  /analytics.js                        browser snippet
//	GET  /demo                                demo page using the snippet
//	GET, PUT /admin/faults                    current faults; replace them (Bearer AdminToken)
//	GET  /healthz                             200 while the process serves
//	GET  /readyz                              200 only when running and Kafka is reachable
//
// The tracking API takes the write key as the HTTP Basic user name or as
// "writeKey" in the body, and a JSON body sent as application/json or
// text/plain. Every answer, errors included, carries CORS headers that let
// a page of any origin call the API and read the answer; OPTIONS answers
// the preflight of every path but /admin/. Metrics are not served here:
// the binary serves its stats engine on /metrics.
func (p *Pipeline) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, t := range []string{"track", "page", "identify", "screen", "group", "alias"} {
		h := p.ingestHandler(t, false)
		mux.Handle("/v1/"+t, h)
		mux.Handle("/v1/"+t[:1], h)
	}
	batch := p.ingestHandler("", true)
	mux.Handle("/v1/batch", batch)
	mux.Handle("/v1/b", batch)
	mux.HandleFunc("/v1/projects/{writeKey}/settings", p.serveSettings)
	mux.HandleFunc("/analytics.js", serveSnippet)
	mux.HandleFunc("/demo", serveDemo)
	mux.HandleFunc("/admin/faults", p.serveFaults)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "not found: " + r.URL.Path})
	})
	return withCORS(mux)
}
