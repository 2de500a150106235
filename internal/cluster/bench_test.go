package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/webhook"
)

// BenchmarkRelay measures matched deliveries per second and the latency of
// one delivery (Record on the receiving replica until Wait returns on the
// waiting one), with every replica in this process on one embedded broker.
//
//   - local: the baseline, every delivery lands on the replica waiting for it
//     (no Kafka hop).
//
// Each runs twice: broadcast (keys without a slot: every replica reads every
// receipt, and decodes only those pending there) and routed (keys from the
// waiting replica's TraceID: a receipt goes to that replica's partition
// only). clients=256 is the CPU-bound run.
//
//   - replicas=N, N = 2, 3: the worst case, every delivery lands on a wrong
//     replica: a key waited for on replica i is delivered to replica i+1
//     (mod N), so every delivery goes through Kafka and every replica reads
//     every receipt.
//   - replicas=1: one replica waits for every key, and every delivery lands
//     on a second node that waits for nothing (a replica that just started,
//     say), so every delivery still takes the Kafka hop; two nodes read the
//     receipts.
//
// read/own and decoded/own are, summed over the waiting replicas, the
// receipts each read from the topic and JSON-decoded per receipt meant for
// it (its own deliveries relayed to it): a receipt for another replica is
// read but, its key not pending, never decoded.
func BenchmarkRelay(b *testing.B) {
	broker := startBroker(b)
	type test struct {
		name    string
		waiters int
		ingress func(i int, nodes []*cluster.Node) *cluster.Node // receiving node for a key waited on nodes[i]
		extra   bool                                             // start a node that only receives
		routed  bool                                             // keys from the waiter's TraceID (else broadcast)
		clients int                                              // SetParallelism (x GOMAXPROCS)
	}
	var tests []test
	for _, routed := range []bool{false, true} {
		mode := "broadcast"
		if routed {
			mode = "routed"
		}
		tests = append(tests,
			test{mode + "/local", 1, func(i int, ns []*cluster.Node) *cluster.Node { return ns[i] }, false, routed, 16},
			test{mode + "/replicas=1", 1, func(i int, ns []*cluster.Node) *cluster.Node { return ns[len(ns)-1] }, true, routed, 16},
			test{mode + "/replicas=2", 2, func(i int, ns []*cluster.Node) *cluster.Node { return ns[(i+1)%2] }, false, routed, 16},
			test{mode + "/replicas=3", 3, func(i int, ns []*cluster.Node) *cluster.Node { return ns[(i+1)%3] }, false, routed, 16},
			// CPU-bound: 8x the clients, enough to saturate both cores.
			test{mode + "/replicas=3/clients=256", 3, func(i int, ns []*cluster.Node) *cluster.Node { return ns[(i+1)%3] }, false, routed, 128},
		)
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			topic := uniqueTopic("bench")
			var nodes []*cluster.Node
			for i := range tt.waiters + boolInt(tt.extra) {
				nodes = append(nodes, startNode(b, broker.Brokers(), topic, "n"+strconv.Itoa(i), nil))
			}
			if tt.routed {
				waitSlots(b, nodes[:tt.waiters])
			}
			base := make([]cluster.Counts, len(nodes))
			for i, n := range nodes {
				base[i] = n.Counts()
			}
			var (
				seq, gid atomic.Int64
				mu       sync.Mutex
				lat      []time.Duration
			)
			b.SetParallelism(tt.clients)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := int(gid.Add(1)-1) % tt.waiters
				waiter, in := nodes[i].Local(), tt.ingress(i, nodes)
				var mine []time.Duration
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for pb.Next() {
					key := "b" + strconv.FormatInt(seq.Add(1), 10)
					if tt.routed {
						key = nodes[i].TraceID()
					}
					if err := waiter.Sent(key); err != nil {
						b.Error(err)
						return
					}
					t0 := time.Now()
					in.Record(delivery(key))
					if _, err := waiter.Wait(ctx, key); err != nil {
						b.Errorf("Wait(%s): %v", key, err)
						return
					}
					mine = append(mine, time.Since(t0))
					waiter.Delete(key)
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "matched/s")
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			}
			// Per waiting replica: receipts read from the topic and decoded,
			// against the receipts meant for it (matched there).
			var read, decoded, matched int64
			for i, n := range nodes[:tt.waiters] {
				c := n.Counts()
				read, decoded, matched = read+c.Read-base[i].Read, decoded+c.Decoded-base[i].Decoded, matched+c.Matched-base[i].Matched
			}
			if matched > 0 {
				b.ReportMetric(float64(read)/float64(matched), "read/own")
				b.ReportMetric(float64(decoded)/float64(matched), "decoded/own")
			}
		})
	}
}

// waitSlots waits until every node has a receipt slot and no slot is
// used by two nodes: the group's rebalance settled (while it settles, a node
// that had every partition may still name runs with slots another node just
// got).
func waitSlots(tb testing.TB, nodes []*cluster.Node) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, owner := true, map[int]bool{}
		for _, n := range nodes {
			slots := n.Slots()
			ok = ok && len(slots) > 0
			for _, s := range slots {
				ok = ok && !owner[s]
				owner[s] = true
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the replicas' receipt slots did not settle (one each, none shared) within 30s")
		}
		<-time.After(20 * time.Millisecond) // the group's rebalance is external
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func delivery(key string) webhook.Request {
	return webhook.Request{
		Method: "POST", RawURL: "/webhook", Proto: "HTTP/1.1",
		Header:     map[string][]string{"Content-Type": {"application/json"}},
		Body:       fmt.Sprintf(`{"messageId":%q,"event":"Bench","userId":"u1","properties":{"n":1}}`, key),
		ReceivedAt: time.Now(),
	}
}
