package cluster_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/webhook"
)

var topicSeq atomic.Int64

// uniqueTopic returns a topic prefix no other test in this process uses.
func uniqueTopic(name string) string {
	return fmt.Sprintf("t%d-%s", topicSeq.Add(1), name)
}

var startBroker = testsupport.StartBroker

func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNode starts a node with a fresh RouteLogger keyed by messageId and
// fast test settings; modify adjusts the Config. The node is closed at
// cleanup.
func startNode(t testing.TB, brokers []string, topic, id string, modify func(*cluster.Config)) *cluster.Node {
	t.Helper()
	return startNodeWith(t, brokers, topic, id, nil, nil, modify)
}

// startNodeWith is startNode with the case names and assignment callback
// given to Start.
func startNodeWith(t testing.TB, brokers []string, topic, id string, cases []string, onAssign func(), modify func(*cluster.Config)) *cluster.Node {
	t.Helper()
	cfg := cluster.Config{
		Brokers:           brokers,
		Topic:             topic,
		ReplicaID:         id,
		Local:             webhook.NewRouteLogger(webhook.JSONField("messageId")),
		Partitions:        8,
		ReceiptPartitions: 8,
		SessionTimeout:    6 * time.Second,
		HeartbeatInterval: 300 * time.Millisecond,
		JoinBackoff:       200 * time.Millisecond,
		Logger:            testLogger().With("replica", id),
	}
	if modify != nil {
		modify(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("cluster.New(%s): %v", id, err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(ctx, cases, onAssign); err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
	return n
}
