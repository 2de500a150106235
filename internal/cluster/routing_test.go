package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orbital-e2e/orbital/internal/cluster"
)

func TestSlotIDs(t *testing.T) {
	for _, slot := range []int{0, 1, 63, 255, 1000} {
		id := cluster.NewSlotID(slot)
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 8 {
			t.Fatalf("NewSlotID(%d) = %q: not a v8 UUID (%v)", slot, id, err)
		}
		if got := cluster.SlotOf(id); got != slot {
			t.Errorf("SlotOf(NewSlotID(%d)) = %d", slot, got)
		}
		if got := cluster.SlotOf(id + "-07"); got != slot { // a batch's keys
			t.Errorf("SlotOf(%s-07) = %d, want %d", id, got, slot)
		}
	}
	for _, key := range []string{"", "k", uuid.NewString(), strings.Repeat("z", 36)} {
		if got := cluster.SlotOf(key); got != -1 {
			t.Errorf("SlotOf(%q) = %d, want -1 (broadcast)", key, got)
		}
	}
}

// TestRoutedRelay: with three replicas, a run's trace id routes its delivery
// to the replica that waits for it: each replica reads and decodes exactly the
// receipts meant for it; a key without a slot takes the broadcast topic, read
// by every replica and decoded only by the one waiting for it.
func TestRoutedRelay(t *testing.T) {
	broker := startBroker(t)
	topic := uniqueTopic("routed")
	var nodes []*cluster.Node
	for i := range 3 {
		nodes = append(nodes, startNode(t, broker.Brokers(), topic, fmt.Sprint("r", i), nil))
	}
	waitSlots(t, nodes)
	// Slots are disjoint.
	owner := map[int]int{}
	for i, n := range nodes {
		for _, s := range n.Slots() {
			if j, dup := owner[s]; dup {
				t.Fatalf("slot %d used by replicas %d and %d", s, j, i)
			}
			owner[s] = i
		}
	}
	// A rebalance still settling would move slots under the test: the nodes'
	// counters are compared relative to here.
	base := make([]cluster.Counts, 3)
	for i, n := range nodes {
		base[i] = n.Counts()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const perReplica = 20
	for i, n := range nodes {
		in := nodes[(i+1)%3]
		for range perReplica {
			key := n.TraceID()
			if cluster.SlotOf(key) < 0 {
				t.Fatalf("TraceID %s carries no slot", key)
			}
			if err := n.Local().Sent(key); err != nil {
				t.Fatal(err)
			}
			if err := in.RecordChecked(delivery(key)); err != nil {
				t.Fatal(err)
			}
			if _, err := n.Local().Wait(ctx, key); err != nil {
				t.Fatalf("Wait(%s) on r%d: %v", key, i, err)
			}
		}
	}
	for i, n := range nodes {
		c := n.Counts()
		read, decoded, matched := c.Read-base[i].Read, c.Decoded-base[i].Decoded, c.Matched-base[i].Matched
		if matched != perReplica || read != perReplica || decoded != perReplica {
			t.Errorf("r%d: read %d, decoded %d, matched %d receipts; want %d each (only its own)", i, read, decoded, matched, perReplica)
		}
	}

	// Broadcast: a v4 key waited for on r0, delivered to r1.
	key := uuid.NewString()
	if err := nodes[0].Local().Sent(key); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].RecordChecked(delivery(key)); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].Local().Wait(ctx, key); err != nil {
		t.Fatalf("broadcast Wait: %v", err)
	}
	if err := nodes[2].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	c0, c2 := nodes[0].Counts(), nodes[2].Counts()
	if c2.Read-base[2].Read != perReplica+1 || c2.Decoded-base[2].Decoded != perReplica {
		t.Errorf("r2 after a broadcast receipt for r0: %+v; want it read, not decoded", c2)
	}
	if c0.Decoded-base[0].Decoded != perReplica+1 {
		t.Errorf("r0 decoded %d receipts, want %d", c0.Decoded-base[0].Decoded, perReplica+1)
	}
}
