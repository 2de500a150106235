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
// each event. It follows the group's generations explicitly (kafka-go's
// ConsumerGroup API): each generation's assigned partitions are read from
// their committed offsets, and when the generation ends their readers stop
// and the tracker forgets them, so a partition moved to another member is
// never committed by this one again. Events are processed concurrently (up to
// MaxInFlight); offsets are committed per partition only up to the first
// unfinished event, with the generation's ID, so an event is committed only
// after its delivery finished.
type worker struct {
	p       *Pipeline
	group   *kafka.ConsumerGroup
	dedupe  *dedupe
	tracker *tracker
	active  chan struct{} // one token per event being processed
	fetched chan fetched  // from the partition readers to the fetch loop

	genMu sync.Mutex
	gen   *kafka.Generation // current generation; nil before the first

	commitMu sync.Mutex // one commit at a time, so offsets never go back

	fetchCtx    context.Context // cancelled to stop reading
	stopFetch   context.CancelFunc
	deliverCtx  context.Context // cancelled to abandon deliveries
	stopDeliver context.CancelFunc

	fetchDone  chan struct{}  // closed when the fetch loop returned
	groupDone  chan struct{}  // closed when the group loop returned
	gens       sync.WaitGroup // generation watchers (see runGeneration)
	events     sync.WaitGroup // event goroutines
	commitStop chan struct{}
	commitDone chan struct{}
}

// fetched is a message read in a generation.
type fetched struct {
	gen int32
	msg kafka.Message
}

func newWorker(p *Pipeline) (*worker, error) {
	cfg := p.cfg
	w := &worker{
		p:          p,
		dedupe:     newDedupe(cfg.DedupeWindow),
		tracker:    newTracker(cfg.MaxUncommitted),
		active:     make(chan struct{}, cfg.MaxInFlight),
		fetched:    make(chan fetched),
		fetchDone:  make(chan struct{}),
		groupDone:  make(chan struct{}),
		commitStop: make(chan struct{}),
		commitDone: make(chan struct{}),
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           cfg.Brokers,
		Topics:            []string{cfg.Topic},
		StartOffset:       kafka.FirstOffset, // a new group sees events ingested before it joined
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second, // the embedded broker refuses less than 6s
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  250 * time.Millisecond,
		Timeout:           5 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			p.log.Debug("kafka-go consumer group: " + fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: consumer group: %w", err)
	}
	w.group = group
	base := context.Background()
	w.fetchCtx, w.stopFetch = context.WithCancel(base)
	w.deliverCtx, w.stopDeliver = context.WithCancel(base)
	return w, nil
}

func (w *worker) start() {
	go w.groupLoop()
	go w.fetchLoop()
	go w.commitLoop()
}

// stop stops reading, waits for in-flight events (abandoning them when ctx
// ends), commits what finished and leaves the group.
func (w *worker) stop(ctx context.Context) error {
	var errs []error
	w.stopFetch()
	<-w.groupDone
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
	// The final commit is what makes the drain lose nothing and redeliver
	// little; it needs the generation, so it comes before leaving the group.
	if err := w.commit(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: final commit: %w", err))
	}
	if err := w.group.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: leave consumer group: %w", err))
	}
	w.gens.Wait()
	return errors.Join(errs...)
}

// groupLoop joins each generation of the group in turn and reads its
// partitions until it ends or the worker stops.
func (w *worker) groupLoop() {
	defer close(w.groupDone)
	ctx := w.fetchCtx
	for {
		gen, err := w.group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			// The group backs off between attempts itself.
			if errors.Is(err, kafka.RebalanceInProgress) {
				w.p.log.Debug("consumer group rebalancing", "group", w.p.cfg.GroupID)
			} else {
				w.p.log.Warn("joining consumer group failed; retrying", "group", w.p.cfg.GroupID, "err", err)
			}
			continue
		}
		w.runGeneration(ctx, gen)
	}
}

// runGeneration reads the partitions assigned in gen until gen ends or ctx
// ends. The end of gen is handled by a function gen.Start runs, which the
// group waits for before it rejoins: it stops the partition readers, commits
// what finished while gen's ID is still accepted, and drops gen's state.
// When ctx ends first, only reading stops: stop still commits with gen
// before it leaves the group.
func (w *worker) runGeneration(ctx context.Context, gen *kafka.Generation) {
	var parts []topicPartition
	for topic, as := range gen.Assignments {
		for _, a := range as {
			parts = append(parts, topicPartition{topic, a.ID})
		}
	}
	w.tracker.assign(gen.ID, parts)
	w.genMu.Lock()
	w.gen = gen
	w.genMu.Unlock()
	w.p.log.Debug("consumer group generation", "group", w.p.cfg.GroupID, "generation", gen.ID, "partitions", len(parts))

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers sync.WaitGroup
	for topic, as := range gen.Assignments {
		for _, a := range as {
			readers.Go(func() { w.readPartition(rctx, gen.ID, topic, a.ID, a.Offset) })
		}
	}
	ended := make(chan struct{})
	w.gens.Add(1)
	gen.Start(func(gctx context.Context) {
		defer w.gens.Done()
		defer close(ended)
		<-gctx.Done()
		cancel()
		readers.Wait()
		if err := w.commit(); err != nil {
			w.p.log.Debug("commit at the end of a generation failed", "generation", gen.ID, "err", err)
		}
		w.tracker.revoke(gen.ID)
	})
	select {
	case <-ended:
	case <-ctx.Done():
		cancel()
		readers.Wait()
	}
}

// readPartition reads one partition from offset and hands its messages to
// the fetch loop until ctx ends.
func (w *worker) readPartition(ctx context.Context, gen int32, topic string, partition int, offset int64) {
	cfg := w.p.cfg
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		Topic:          topic,
		Partition:      partition,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        250 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			w.p.log.Debug("kafka-go reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil { // only fails on a closed reader
		w.p.log.Error("cannot read partition", "topic", topic, "partition", partition, "err", err)
		return
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			w.p.log.Warn("fetch failed", "topic", topic, "partition", partition, "err", err)
			t := time.NewTimer(250 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		select {
		case w.fetched <- fetched{gen: gen, msg: m}:
		case <-ctx.Done():
			return
		}
	}
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
		var f fetched
		select {
		case f = <-w.fetched:
		case <-ctx.Done():
			<-w.active
			<-w.tracker.window
			return
		}
		tok, ok := w.tracker.add(f.gen, f.msg)
		if !ok { // fetched in a generation that just ended
			<-w.active
			<-w.tracker.window
			continue
		}
		w.p.stats.Incr("consumed_total")
		m := f.msg
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
			if err := w.commit(); err != nil {
				w.p.log.Warn("commit failed; will retry", "err", err)
			}
		}
	}
}

// commit commits, with the current generation, every assigned partition's
// committable offset that advanced. A commit of an ended generation is
// refused by the coordinator; its offsets are then dropped with the
// generation. Each request is bounded by the group's Timeout.
func (w *worker) commit() error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	genID, offsets := w.tracker.pending()
	if len(offsets) == 0 {
		return nil
	}
	w.genMu.Lock()
	gen := w.gen
	w.genMu.Unlock()
	if gen == nil || gen.ID != genID {
		w.tracker.failed(genID, offsets)
		return fmt.Errorf("generation %d is not current", genID)
	}
	req := map[string]map[int]int64{}
	for tp, off := range offsets {
		if req[tp.topic] == nil {
			req[tp.topic] = map[int]int64{}
		}
		req[tp.topic][tp.partition] = off
	}
	if err := gen.CommitOffsets(req); err != nil {
		w.tracker.failed(genID, offsets)
		return fmt.Errorf("generation %d: %w", genID, err)
	}
	return nil
}

// process handles one event to the end: dropped as a duplicate or by a fault,
// delivered, or dead-lettered. It returns false only when ctx ended first;
// the event then stays uncommitted and will be redelivered.
func (w *worker) process(ctx context.Context, m kafka.Message) bool {
	p := w.p
	tc := traceFromKafka(m.Headers)
	var e event
	var err error
	if e, err = parseEvent(m.Value, ""); err != nil {
		p.log.Warn("invalid event on topic; dead-lettering", "partition", m.Partition, "offset", m.Offset, "err", err)
		return w.deadLetter(ctx, m.Key, m.Value, tc, failure{reason: "invalid event: " + err.Error()})
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
	if !w.handle(ctx, m, e, id, tc) {
		w.dedupe.forget(de)
		return false
	}
	w.dedupe.finish(de)
	return true
}

// handle applies faults and delivers a new event to every destination (and
// the output topic), propagating the trace context tc of its message.
func (w *worker) handle(ctx context.Context, m kafka.Message, e event, id string, tc traceContext) bool {
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
		return w.deadLetter(ctx, m.Key, m.Value, tc, failure{reason: "encoding event: " + err.Error()})
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
	return w.fanOut(ctx, delivery{key: m.Key, id: id, body: body, received: received, dup: dup, tc: tc})
}

// delivery is a processed event on its way to the destinations.
type delivery struct {
	key, body []byte // Kafka key and delivered body
	id        string // messageId
	received  time.Time
	dup       bool         // deliver twice (Faults.Dup)
	tc        traceContext // of the consumed message
}

// fanOut delivers d to every destination and the output topic at once. It
// returns false when one of them did not finish before ctx ended.
func (w *worker) fanOut(ctx context.Context, d delivery) bool {
	p := w.p
	ok := true
	var mu sync.Mutex
	var wg sync.WaitGroup
	run := func(f func() bool) {
		wg.Go(func() {
			if !f() {
				mu.Lock()
				ok = false
				mu.Unlock()
			}
		})
	}
	if p.out != nil {
		run(func() bool { return w.output(ctx, d) })
	}
	for _, dest := range p.cfg.Destinations {
		run(func() bool { return w.deliver(ctx, dest, d) })
	}
	wg.Wait()
	return ok
}
