package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/webhook"
)

// Defaults of a Config.
const (
	DefaultTopic             = "orbital"
	DefaultPartitions        = 64
	DefaultReceiptPartitions = 64
	DefaultSlotLinger        = 5 * time.Minute
	DefaultSessionTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultPublishTimeout    = 5 * time.Second
)

// Config configures Start. Brokers and Local are required; every other field
// works at its zero value and documents its default.
type Config struct {
	// Brokers is the Kafka bootstrap list (host:port). Required.
	Brokers []string

	// Topic is the prefix of the names the node uses: the topics
	// "<Topic>-receipts" and "<Topic>-schedule" and the consumer group
	// "<Topic>-scheduler". Replicas that share it form one cluster.
	// Default: "orbital".
	Topic string

	// ReplicaID names this replica in receipts and logs. It must differ
	// between replicas. Default: the host name and 6 random hex digits.
	ReplicaID string

	// Local is this replica's RouteLogger: the one its tests wait on.
	// Required.
	Local *webhook.RouteLogger

	// Partitions is the partition count of the schedule topic when Start
	// creates it (an existing topic keeps its count, which then counts).
	// It bounds how many replicas can run cases. Default: 64.
	Partitions int

	// ReceiptPartitions is the partition count of the receipts topic when
	// Start creates it. Partition p is read by the replica that owns schedule
	// partition p (its slot): keep it at most Partitions, and at least the
	// number of replicas so each can have a slot. Default: 64.
	ReceiptPartitions int

	// SlotLinger is how long a replica keeps reading a receipts partition
	// after a rebalance gave it to another replica: its runs named with that
	// slot may still wait for deliveries. Set it to the longest run timeout.
	// Default: 5m.
	SlotLinger time.Duration

	// ReplicationFactor of the topics Start creates. Default: -1, the
	// broker's default.
	ReplicationFactor int

	// SessionTimeout is how long the group waits for a crashed replica's
	// heartbeat before moving its cases to the others. Kafka brokers refuse
	// values outside their group.min/max.session.timeout.ms (by default 6s
	// to 30 minutes). Default: 10s.
	SessionTimeout time.Duration

	// HeartbeatInterval is how often the node heartbeats the group; a
	// replica that joins or leaves is noticed by the others within one
	// interval. Default: 1s.
	HeartbeatInterval time.Duration

	// RebalanceTimeout is how long the group waits for every member to
	// rejoin during a rebalance. Default: SessionTimeout.
	RebalanceTimeout time.Duration

	// JoinBackoff is the wait before joining the group again after an error,
	// such as Kafka being unreachable. Default: 1s.
	JoinBackoff time.Duration

	// PublishTimeout bounds the wait for Kafka to acknowledge a receipt.
	// Record blocks at most this long (the webhook answers the delivery after
	// it). Default: 5s.
	PublishTimeout time.Duration

	// Stats receives the metrics of docs/metrics.md ("cluster" section),
	// without the orbital prefix. Default: discarded.
	Stats *stats.Engine

	// Logger receives the node's logs. Default: discarded.
	Logger *slog.Logger

	// dial, when set, opens every Kafka connection of the node (its client,
	// writer, readers and consumer group). Tests set it to cut a node off
	// from Kafka without it leaving the group, as a crash would.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// DefaultReplicaID is a replica name for a process that was given none: the
// host name and 6 random hex digits.
func DefaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, errors.New("cluster: Config.Brokers is empty")
	}
	if c.Local == nil {
		return c, errors.New("cluster: Config.Local is nil")
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.ReplicaID == "" {
		c.ReplicaID = DefaultReplicaID()
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReceiptPartitions <= 0 {
		c.ReceiptPartitions = DefaultReceiptPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.SlotLinger <= 0 {
		c.SlotLinger = DefaultSlotLinger
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = c.SessionTimeout
	}
	if c.JoinBackoff <= 0 {
		c.JoinBackoff = time.Second
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Stats == nil {
		c.Stats = stats.NewEngine("", stats.Discard)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// transport is the kafka-go transport of the node's client and writer: the
// default one unless dial is set.
func (c Config) transport() kafka.RoundTripper {
	if c.dial == nil {
		return nil
	}
	return &kafka.Transport{Dial: c.dial}
}

// dialer is the kafka-go dialer of the node's readers and consumer group:
// the default one unless dial is set.
func (c Config) dialer() *kafka.Dialer {
	if c.dial == nil {
		return nil
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DialFunc: c.dial}
}
