package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestBrokerCommand: e2e broker serves the Kafka protocol on --addr until
// cancelled, and refuses an address clients could not dial.
func TestBrokerCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := startServe(t, &app{}, "broker", "--addr", addr, "--data-dir", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "x", NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil || resp.Errors["x"] != nil {
		t.Fatalf("CreateTopics on e2e broker: %v %v", err, resp)
	}
	if code := srv.stop(t); code != exitOK {
		t.Fatalf("broker exited with %d\nstderr:\n%s", code, srv.stderr.String())
	}

	for _, bad := range []string{"0.0.0.0:9092", ":9092", "nope"} {
		r := runE2E(t, 10*time.Second, "broker", "--addr", bad)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--addr") {
			t.Errorf("broker --addr %s: exit %d, stderr %q; want 2 naming --addr", bad, r.code, r.stderr)
		}
	}
}
