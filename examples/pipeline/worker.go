package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	stats "github.com/segmentio/stats/v4"
)

// worker consumes the events topic through a consumer group and delivers
// each event. Events are processed concurrently (up to MaxInFlight); offsets
// are committed per partition only up to the first unfinished event, so an
// event is committed only after its delivery finished.
type worker struct {
	p       *Pipeline
	reader  *kafka.Reader
	dedupe  *dedupe
	tracker *tracker
	active  chan struct{} // one token per event being processed

	fetchCtx    context.Context // cancelled to stop reading
	stopFetch   context.CancelFunc
	deliverCtx  context.Context // cancelled to abandon deliveries
	stopDeliver context.CancelFunc

	fetchDone  chan struct{}  // closed when the fetch loop returned
	events     sync.WaitGroup // event goroutines
	commitStop chan struct{}
	commitDone chan struct{}
}

func newWorker(p *Pipeline) *worker {
	cfg := p.cfg
	w := &worker{
		p:          p,
		dedupe:     newDedupe(cfg.DedupeWindow),
		tracker:    newTracker(cfg.MaxUncommitted),
		active:     make(chan struct{}, cfg.MaxInFlight),
		fetchDone:  make(chan struct{}),
		commitStop: make(chan struct{}),
		commitDone: make(chan struct{}),
	}
	w.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.GroupID,
		Topic:             cfg.Topic,
		StartOffset:       kafka.FirstOffset, // a new group sees events ingested before it joined
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           250 * time.Millisecond,
		QueueCapacity:     1000,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second, // the embedded broker refuses less than 6s
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  250 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		CommitInterval:    0, // synchronous; the worker batches commits itself
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			p.log.Debug("kafka-go reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	base := context.Background()
	w.fetchCtx, w.stopFetch = context.WithCancel(base)
	w.deliverCtx, w.stopDeliver = context.WithCancel(base)
	return w
}

func (w *worker) start() {
	go w.fetchLoop()
	go w.commitLoop()
}

// stop stops reading, waits for in-flight events (abandoning them when ctx
// ends), commits what finished and leaves the group.
func (w *worker) stop(ctx context.Context) error {
	var errs []error
	w.stopFetch()
	<-w.fetchDone
	done := make(chan struct{})
	go func() { w.events.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("pipeline: in-flight deliveries abandoned (they will be redelivered): %w", ctx.Err()))
		w.stopDeliver()
		<-done
	}
	w.stopDeliver()
	close(w.commitStop)
	<-w.commitDone
	// The final commit gets its own short deadline: it is what makes the
	// drain lose nothing and redeliver little.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.commit(cctx); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: final commit: %w", err))
	}
	if err := w.reader.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: close reader: %w", err))
	}
	return errors.Join(errs...)
}

func (w *worker) fetchLoop() {
	defer close(w.fetchDone)
	ctx := w.fetchCtx
	for {
		select { // bound uncommitted events, then concurrent ones
		case w.tracker.window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		select {
		case w.active <- struct{}{}:
		case <-ctx.Done():
			<-w.tracker.window
			return
		}
		m, err := w.reader.FetchMessage(ctx)
		if err != nil {
			<-w.active
			<-w.tracker.window
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			w.p.log.Warn("fetch failed", "err", err)
			t := time.NewTimer(250 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		w.p.stats.Incr("consumed_total")
		tok := w.tracker.add(m)
		w.events.Add(1)
		go func() {
			defer w.events.Done()
			defer func() { <-w.active }()
			if w.process(w.deliverCtx, m) {
				w.tracker.done(tok)
			}
		}()
	}
}

func (w *worker) commitLoop() {
	defer close(w.commitDone)
	t := time.NewTicker(w.p.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-w.commitStop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := w.commit(ctx); err != nil {
				w.p.log.Warn("commit failed; will retry", "err", err)
			}
			cancel()
		}
	}
}

// commit commits every partition's committable offset that advanced.
func (w *worker) commit(ctx context.Context) error {
	msgs := w.tracker.pending()
	if len(msgs) == 0 {
		return nil
	}
	if err := w.reader.CommitMessages(ctx, msgs...); err != nil {
		w.tracker.failed(msgs)
		return err
	}
	return nil
}

// process handles one event to the end: dropped as a duplicate or by a fault,
// delivered, or dead-lettered. It returns false only when ctx ended first;
// the event then stays uncommitted and will be redelivered.
func (w *worker) process(ctx context.Context, m kafka.Message) bool {
	p := w.p
	var e event
	var err error
	if e, err = parseEvent(m.Value, ""); err != nil {
		p.log.Warn("invalid event on topic; dead-lettering", "partition", m.Partition, "offset", m.Offset, "err", err)
		return w.deadLetter(ctx, m.Key, m.Value, "invalid event: "+err.Error(), "", 0, 0)
	}
	id, ok := e.str("messageId")
	if !ok || id == "" {
		id = string(m.Key)
		if id == "" {
			id = uuid.NewString()
		}
		e.setStr("messageId", id)
	}

	de, first := w.dedupe.begin(id)
	if !first {
		select { // never finish before the original: its offset may not be committed yet
		case <-de.done:
		case <-ctx.Done():
			return false
		}
		if w.dedupe.forgotten(de) { // the original was abandoned; so is this one
			return false
		}
		p.stats.Incr("duplicates_dropped_total")
		p.log.Debug("duplicate dropped", "message_id", id)
		return true
	}
	if !w.handle(ctx, m, e, id) {
		w.dedupe.forget(de)
		return false
	}
	w.dedupe.finish(de)
	return true
}

// handle applies faults and delivers a new event to every destination.
func (w *worker) handle(ctx context.Context, m kafka.Message, e event, id string) bool {
	p := w.p
	f := p.Faults()
	if hit(f.Drop) {
		p.stats.Incr("faults_injected_total", stats.T("fault", faultDrop))
		p.log.Debug("fault: event dropped", "message_id", id)
		return true
	}
	received := m.Time
	if received.IsZero() {
		received = time.Now()
	}
	e["processed"] = json.RawMessage("true")
	e.setStr("receivedAt", received.UTC().Format(time.RFC3339Nano))
	if hit(f.Corrupt) {
		p.stats.Incr("faults_injected_total", stats.T("fault", faultCorrupt))
		p.log.Debug("fault: event corrupted", "message_id", id)
		e.corrupt()
	}
	body, err := e.marshal()
	if err != nil { // cannot happen: every field is valid JSON
		return w.deadLetter(ctx, m.Key, m.Value, "encoding event: "+err.Error(), "", 0, 0)
	}
	if f.Delay > 0 {
		p.stats.Incr("faults_injected_total", stats.T("fault", faultDelay))
		t := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	dup := hit(f.Dup)
	if dup {
		p.stats.Incr("faults_injected_total", stats.T("fault", faultDup))
	}

	ok := true
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, dest := range p.cfg.Destinations {
		wg.Go(func() {
			if !w.deliver(ctx, dest, id, body, received, dup) {
				mu.Lock()
				ok = false
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok
}
