package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/webhook"
)

// Node is one replica's membership in the cluster: its receipt relay (Record)
// and its share of the cases (Owns). Create it with Start and stop it with
// Close. It is safe for concurrent use.
type Node struct {
	cfg           Config
	receipts      string // topic names
	broadcast     string
	schedule      string
	group         string
	client        *kafka.Client
	writer        *kafka.Writer
	numParts      int // partitions of the schedule topic
	numReceipts   int // partitions of the receipts topic
	bcast         *partReader
	slotsMu       sync.Mutex
	slotReaders   map[int]*partReader // receipts partitions read, owned or lingering
	slots         atomic.Pointer[[]int]
	slotSeq       atomic.Uint64
	slotUsed      []atomic.Int64 // per receipts partition: unix ns of its last trace id
	progressMu    sync.Mutex
	progress      chan struct{} // closed and replaced whenever a receipt is processed
	cg            *kafka.ConsumerGroup
	owned         atomic.Pointer[assignment]
	namesMu       sync.Mutex
	names         map[string]int // case name → partition, every name known
	seen          sync.Map       // names passed to Owns, fast path
	publishErr    atomic.Pointer[error]
	groupErr      atomic.Pointer[error]
	ctx           context.Context
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	onAssign      func()      // set by Start before the assignment loop runs
	starting      atomic.Bool // Start was called
	started       atomic.Bool // Start succeeded
	closeOnce     sync.Once
	closeErr      error
	relayed       atomic.Int64
	local         atomic.Int64
	matchedRemote atomic.Int64
	read          atomic.Int64
	decoded       atomic.Int64
}

// maxNames bounds the case names a node remembers from Owns.
const maxNames = 10_000

// New validates cfg and returns a Node that is not yet part of the cluster:
// until Start, Owns reports false and Record records locally. The Node needs
// nothing of the orbital.Service: create it first, give its Owns to the
// Service (orbital.WithAssignment), register the cases, then Start it with
// their names and the Service's Reassigned.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		receipts:    cfg.Topic + "-receipts",
		broadcast:   cfg.Topic + "-broadcast",
		slotReaders: make(map[int]*partReader),
		schedule:    cfg.Topic + "-schedule",
		group:       cfg.Topic + "-scheduler",
		client:      &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second, Transport: cfg.transport()},
		progress:    make(chan struct{}),
		names:       make(map[string]int),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Start joins the cluster: it creates the topics if they are missing
// (retrying while Kafka is unreachable, until ctx ends), positions one reader
// per receipts partition at its current end, and starts the consumer group
// that assigns cases. cases are the names of the cases registered on this
// replica: the node shares them with the group so the assignment spreads
// cases evenly from the first generation on (names passed to Owns later are
// shared too). onAssign, when not nil, is called after each new assignment
// took effect (Owns answers by it), from the node's own goroutine: pass
// orbital's Service.Reassigned, so a case taken over from a replica that
// left or died runs at once instead of at its next tick.
//
// Start returns once every receipt published from now on will be seen;
// cases are assigned asynchronously, and Owns reports false for every case
// until the first assignment arrives. ctx bounds only Start; the node runs
// until Close. Start may be called once.
func (n *Node) Start(ctx context.Context, cases []string, onAssign func()) error {
	if !n.starting.CompareAndSwap(false, true) {
		return errors.New("cluster: Start called twice")
	}
	if n.ctx.Err() != nil {
		return errors.New("cluster: Start after Close")
	}
	n.onAssign = onAssign
	cfg := n.cfg
	if err := n.start(ctx, cases); err != nil {
		return err
	}
	n.started.Store(true)
	cfg.Logger.Info("cluster node started", "replica", cfg.ReplicaID, "brokers", cfg.Brokers,
		"receipts_topic", n.receipts, "receipt_partitions", n.numReceipts, "broadcast_topic", n.broadcast,
		"schedule_topic", n.schedule, "schedule_partitions", n.numParts, "group", n.group)
	return nil
}

func (n *Node) start(ctx context.Context, cases []string) error {
	cfg := n.cfg
	if err := n.createTopics(ctx); err != nil {
		return err
	}
	parts, err := n.partitions(ctx, n.schedule)
	if err != nil {
		return err
	}
	rparts, err := n.partitions(ctx, n.receipts)
	if err != nil {
		return err
	}
	bend, err := n.lastOffsetsOf(ctx, n.broadcast, 1)
	if err != nil {
		return err
	}
	n.numParts, n.numReceipts = len(parts), len(rparts)
	n.slotUsed = make([]atomic.Int64, len(rparts))
	n.learn(cases...) // before the group join, which shares them
	n.writer = &kafka.Writer{
		Addr:            kafka.TCP(cfg.Brokers...),
		Balancer:        routeBalancer{receipts: n.receipts}, // a key's slot; one key's receipts stay in order
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    time.Millisecond,
		BatchSize:       500,
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		ReadTimeout:     cfg.PublishTimeout,
		WriteTimeout:    cfg.PublishTimeout,
		ErrorLogger:     n.kafkaLogger("writer"),
		Transport:       cfg.transport(),
	}
	if n.bcast, err = n.startReader(n.broadcast, 0, bend[0]); err != nil {
		return err
	}
	n.cg, err = kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                n.group,
		Brokers:           cfg.Brokers,
		Topics:            []string{n.schedule},
		GroupBalancers:    []kafka.GroupBalancer{balancer{n}},
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		JoinGroupBackoff:  cfg.JoinBackoff,
		Timeout:           5 * time.Second,
		ErrorLogger:       n.kafkaLogger("group"),
		Dialer:            cfg.dialer(),
	})
	if err != nil {
		n.closeReaders()
		return fmt.Errorf("cluster: consumer group %s: %w", n.group, err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.assignLoop()
	}()
	return nil
}

// Local returns Config.Local, the RouteLogger this replica's tests wait on.
func (n *Node) Local() *webhook.RouteLogger { return n.cfg.Local }

// ReplicaID returns the name of this replica.
func (n *Node) ReplicaID() string { return n.cfg.ReplicaID }

// Close leaves the group, so the other replicas take this one's cases at
// their next heartbeat rather than after the session timeout, stops the
// readers and flushes the writer. Owns reports false from then on and
// Record only records locally. Close waits for the node's goroutines and is
// idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		var errs []error
		if n.cg != nil {
			errs = append(errs, n.cg.Close()) // leaves the group
		}
		n.owned.Store(nil)
		n.cfg.Stats.Set("cluster.owned_cases", 0)
		errs = append(errs, n.closeReaders())
		n.wg.Wait()
		if n.writer != nil {
			errs = append(errs, n.writer.Close())
		}
		n.closeErr = errors.Join(errs...)
		n.cfg.Logger.Info("cluster node closed", "replica", n.cfg.ReplicaID)
	})
	return n.closeErr
}

// Err returns why this node cannot currently reach Kafka: the error of the
// last receipt publish or group operation when it failed and nothing of the
// same kind succeeded since; nil when both last succeeded. Tests can add it to
// a timeout message, probes can report it.
func (n *Node) Err() error {
	var errs []error
	if p := n.publishErr.Load(); p != nil {
		errs = append(errs, *p)
	}
	if p := n.groupErr.Load(); p != nil {
		errs = append(errs, *p)
	}
	return errors.Join(errs...)
}

func setErr(p *atomic.Pointer[error], err error) {
	if err == nil {
		if p.Load() != nil {
			p.Store(nil)
		}
		return
	}
	p.Store(&err)
}

func (n *Node) kafkaLogger(component string) kafka.Logger {
	log := n.cfg.Logger.With("component", component)
	return kafka.LoggerFunc(func(msg string, args ...any) {
		log.Debug("kafka-go: " + fmt.Sprintf(msg, args...))
	})
}
