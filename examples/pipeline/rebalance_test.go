package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
)

// TestRebalanceMovesPartitions runs two workers of one consumer group, so the
// first loses partitions to the second, then closes the second, so the first
// gets them back, with events flowing throughout: every acknowledged event is
// delivered, each worker tracks only the partitions it owns, and the
// survivor's commits reach the end of the topic with nothing left
// uncommitted.
func TestRebalanceMovesPartitions(t *testing.T) {
	const group, partitions = "rebalance", 3
	broker := startBroker(t)
	dest := newDestination(t, nil)
	cfg := func(c *pipeline.Config) { c.GroupID = group; c.Partitions = partitions }
	first := newEnv(t, broker, dest, cfg)

	var acked []string
	send := func(e *env, prefix string, n int) {
		t.Helper()
		for i := range n {
			id := fmt.Sprintf("%s-%03d", prefix, i)
			e.track(id, "e")
			acked = append(acked, id)
		}
	}
	send(first, "alone", 30)
	waitDelivered(t, dest, acked)

	second := newEnv(t, broker, dest, cfg)
	waitMembers(t, broker.Brokers(), group, 2)
	send(first, "pair", 60)
	waitDelivered(t, dest, acked)
	waitCounter(t, second.metrics, 1, "consumed_total") // the second owns partitions
	waitCond(t, "each worker to track only the partitions it owns", func() bool {
		a, b := pipeline.TrackerState(first.p), pipeline.TrackerState(second.p)
		return a.Partitions+b.Partitions == partitions && a.Partitions > 0 && b.Partitions > 0
	})
	waitCommitted(t, broker.Brokers(), group, "events", partitions)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := second.p.Close(ctx); err != nil {
		t.Fatalf("Close second: %v", err)
	}
	waitMembers(t, broker.Brokers(), group, 1)
	send(first, "after", 60)
	waitDelivered(t, dest, acked)
	waitCommitted(t, broker.Brokers(), group, "events", partitions)
	waitCond(t, "the survivor to own every partition with nothing uncommitted", func() bool {
		s := pipeline.TrackerState(first.p)
		return s.Partitions == partitions && s.Uncommitted == 0
	})
}

// TestLostPartitionIsNotCommittedByItsFormerOwner has the first worker stuck
// delivering events of every partition when a second worker joins and takes
// some partitions, redelivers their events and commits further. When the
// first worker's deliveries finish, it must not commit the partitions it
// lost: that would move their committed offsets back, behind the new owner's.
func TestLostPartitionIsNotCommittedByItsFormerOwner(t *testing.T) {
	const group, partitions, topic = "lost", 3, "events"
	broker := startBroker(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	var stuck *destination
	stuck = newDestination(t, func(int, http.ResponseWriter) bool { stuck.hold(release); return false })
	healthy := newDestination(t, nil)
	cfg := func(c *pipeline.Config) {
		c.GroupID = group
		c.Partitions = partitions
		c.DeliveryTimeout = time.Minute
	}
	first := newEnv(t, broker, stuck, cfg)
	var early []string
	for i := range 30 {
		id := fmt.Sprintf("early-%03d", i)
		first.track(id, "e")
		early = append(early, id)
	}
	waitDelivered(t, stuck, early) // first attempts, all hanging
	earlyEnd, before, err := groupOffsets(broker.Brokers(), group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}

	newEnv(t, broker, healthy, cfg)
	waitMembers(t, broker.Brokers(), group, 2)
	for i := range 30 {
		first.track(fmt.Sprintf("late-%03d", i), "e")
	}
	// The second worker's partitions get committed to their end; the first
	// worker's stay where they were (its deliveries hang).
	var moved []int
	waitCond(t, "the second worker to commit its partitions", func() bool {
		end, committed, err := groupOffsets(broker.Brokers(), group, topic, partitions)
		if err != nil {
			return false
		}
		moved = moved[:0]
		for i := range partitions {
			switch committed[i] {
			case end[i]:
				moved = append(moved, i)
			case before[i]:
			default:
				return false
			}
		}
		return len(moved) > 0 && len(moved) < partitions
	})
	end, _, err := groupOffsets(broker.Brokers(), group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}

	unblock()
	waitCond(t, "the first worker to finish and commit", func() bool {
		s := pipeline.TrackerState(first.p)
		return s.Uncommitted == 0 && s.Unsaved == 0
	})
	waitCommitted(t, broker.Brokers(), group, topic, partitions)
	_, committed, err := groupOffsets(broker.Brokers(), group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range moved {
		if end[p] == earlyEnd[p] {
			t.Fatalf("no late event on partition %d; the test cannot tell", p)
		}
		if committed[p] != end[p] {
			t.Errorf("partition %d: committed offset %d, want %d (the new owner's)", p, committed[p], end[p])
		}
	}
}

// TestBrokerRestartKeepsConsuming restarts the broker (same address and
// data) under a single worker: the group's generation changes, and the worker
// goes on consuming, delivering and committing.
func TestBrokerRestartKeepsConsuming(t *testing.T) {
	const group, partitions = "restart", 3
	dir := t.TempDir()
	b, err := embedkafka.Start(embedkafka.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	var mu sync.Mutex
	current := b
	t.Cleanup(func() { mu.Lock(); current.Close(); mu.Unlock() })

	dest := newDestination(t, nil)
	e := newEnv(t, b, dest, func(c *pipeline.Config) { c.GroupID = group; c.Partitions = partitions })
	var acked []string
	for i := range 30 {
		id := fmt.Sprintf("before-%03d", i)
		e.track(id, "e")
		acked = append(acked, id)
	}
	waitDelivered(t, dest, acked)
	waitCommitted(t, []string{addr}, group, "events", partitions)

	gen := pipeline.TrackerState(e.p).Generation
	start := time.Now()
	mu.Lock()
	current.Close()
	current, err = embedkafka.Start(embedkafka.Config{Addr: addr, DataDir: dir})
	mu.Unlock()
	if err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	for i := range 30 {
		id := fmt.Sprintf("after-%03d", i)
		trackRetrying(t, e, id) // 503 until the writer reconnects
		acked = append(acked, id)
	}
	waitDelivered(t, dest, acked)
	waitCommitted(t, []string{addr}, group, "events", partitions)
	waitCond(t, "nothing uncommitted", func() bool {
		return pipeline.TrackerState(e.p).Uncommitted == 0
	})
	if s := pipeline.TrackerState(e.p); s.Generation == gen || s.Partitions != partitions {
		t.Errorf("after the restart: generation %d (was %d), %d partitions; want a new generation owning all %d",
			s.Generation, gen, s.Partitions, partitions)
	}
	t.Logf("recovered %v after the restart", time.Since(start).Round(time.Millisecond))
}

// trackRetrying posts a track event until it is acknowledged.
func trackRetrying(t *testing.T, e *env, id string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		status, body := e.post("/v1/track", `{"messageId":"`+id+`","event":"e","userId":"u1"}`)
		if status == http.StatusOK {
			return
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("track %s: %d %v", id, status, body)
		}
	}
}

// waitDelivered waits until every id was delivered at least once.
func waitDelivered(t *testing.T, dest *destination, ids []string) {
	t.Helper()
	dest.waitUntil(t, fmt.Sprintf("delivery of %d acknowledged events", len(ids)), func(ds []delivery) bool {
		seen := map[string]bool{}
		for _, d := range ds {
			id, _ := d.Event["messageId"].(string)
			seen[id] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

// waitCond polls cond until it holds, failing the test after the deadline.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitCommitted waits until the group's committed offset of every partition
// of topic is the partition's end offset (consumer lag 0).
func waitCommitted(t *testing.T, brokers []string, group, topic string, partitions int) {
	t.Helper()
	var end, committed map[int]int64
	defer func() {
		if t.Failed() {
			t.Logf("%s: end %v committed %v", group, end, committed)
		}
	}()
	waitCond(t, "committed offsets to reach the end of "+topic, func() bool {
		var err error
		if end, committed, err = groupOffsets(brokers, group, topic, partitions); err != nil {
			return false
		}
		for i := range partitions {
			if committed[i] != end[i] {
				return false
			}
		}
		return true
	})
	t.Logf("%s: end %v committed %v", group, end, committed)
}

// groupOffsets returns the end offset of each partition of topic and the
// group's committed offset (-1: none).
func groupOffsets(brokers []string, group, topic string, partitions int) (end, committed map[int]int64, err error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids := make([]int, partitions)
	reqs := make([]kafka.OffsetRequest, partitions)
	for i := range partitions {
		ids[i], reqs[i] = i, kafka.LastOffsetOf(i)
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, err
	}
	got, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return nil, nil, err
	}
	end, committed = map[int]int64{}, map[int]int64{}
	for _, p := range ends.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	for _, p := range got.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	return end, committed, nil
}

// waitMembers waits until group is stable with n members that all have
// partitions assigned.
func waitMembers(t *testing.T, brokers []string, group string, n int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 2 * time.Second}
	waitCond(t, fmt.Sprintf("group %s to be stable with %d members", group, n), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(resp.Groups) != 1 {
			return false
		}
		g := resp.Groups[0]
		if g.Error != nil || g.GroupState != "Stable" || len(g.Members) != n {
			return false
		}
		for _, m := range g.Members {
			if len(m.MemberAssignments.Topics) == 0 {
				return false
			}
		}
		return true
	})
}
