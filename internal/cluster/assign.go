package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// assignment is the set of schedule partitions this replica owns in one
// group generation.
type assignment struct {
	generation int32
	parts      []bool // indexed by partition
}

func (a *assignment) has(p int) bool { return a != nil && p < len(a.parts) && a.parts[p] }

// partitionOf maps a case name to a partition of the schedule topic with a
// stable hash, the same on every replica and every version.
func partitionOf(name string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(partitions))
}

// Owns reports whether this replica runs the case named caseName: whether
// the group assigned it the partition the name hashes to. Use it with
// orbital.WithAssignment. It is fast (a hash and an atomic load) and safe for
// concurrent use. It reports false before Start, before the first
// assignment and after Close; while Kafka is unreachable it keeps answering from the last
// assignment.
func (n *Node) Owns(caseName string) bool {
	if !n.started.Load() {
		return false
	}
	if _, ok := n.seen.Load(caseName); !ok {
		n.learn(caseName)
	}
	return n.owned.Load().has(partitionOf(caseName, n.numParts))
}

// learn remembers a case name, to share it with the group and count it in
// cluster.owned_cases.
func (n *Node) learn(names ...string) {
	n.namesMu.Lock()
	added := false
	for _, name := range names {
		if _, ok := n.names[name]; !ok && len(n.names) < maxNames {
			n.names[name] = partitionOf(name, n.numParts)
			n.seen.Store(name, struct{}{})
			added = true
		}
	}
	n.namesMu.Unlock()
	if added {
		n.setOwnedGauge(n.owned.Load())
	}
}

func (n *Node) knownNames() []string {
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	out := make([]string, 0, len(n.names))
	for name := range n.names {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (n *Node) setOwnedGauge(a *assignment) int {
	n.namesMu.Lock()
	owned := 0
	for _, p := range n.names {
		if a.has(p) {
			owned++
		}
	}
	n.namesMu.Unlock()
	if n.ctx.Err() == nil {
		n.cfg.Stats.Set("cluster.owned_cases", owned)
	}
	return owned
}

// assignLoop follows the group's generations until the node closes. An error
// (Kafka unreachable, a rebalance failing) keeps the last assignment: the
// replica goes on running what it ran, and the group retries after
// JoinBackoff.
func (n *Node) assignLoop() {
	failing := false
	for {
		gen, err := n.cg.Next(n.ctx)
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			setErr(&n.groupErr, err)
			if !failing {
				n.cfg.Logger.Warn("cluster: consumer group unavailable; keeping the last assignment",
					"group", n.group, "err", err)
				failing = true
			}
			continue
		}
		setErr(&n.groupErr, nil)
		failing = false
		a := &assignment{generation: gen.ID, parts: make([]bool, n.numParts)}
		var ids []int
		for _, pa := range gen.Assignments[n.schedule] {
			if pa.ID >= 0 && pa.ID < n.numParts {
				a.parts[pa.ID] = true
				ids = append(ids, pa.ID)
			}
		}
		n.owned.Store(a)
		owned := n.setOwnedGauge(a)
		sctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		n.updateSlots(sctx, a)
		cancel()
		n.cfg.Logger.Info("cluster: new assignment", "replica", n.cfg.ReplicaID, "generation", gen.ID,
			"partitions", len(ids), "owned_cases", owned, "receipt_slots", n.slotCount())
		if n.onAssign != nil {
			n.onAssign()
		}
	}
}

// memberData is what each member tells the group leader in its join
// request.
type memberData struct {
	Cases []string `json:"cases,omitempty"` // case names it knows
	Owned []int    `json:"owned,omitempty"` // partitions it owns now
}

// balancer is the group's assignment strategy: it spreads cases evenly,
// keeps partitions where they are when that stays balanced, and spreads the
// partitions without cases too (for cases registered later).
type balancer struct{ n *Node }

// ProtocolName implements kafka.GroupBalancer.
func (balancer) ProtocolName() string { return "orbital-cases-v1" }

// UserData implements kafka.GroupBalancer.
func (b balancer) UserData() ([]byte, error) {
	d := memberData{Cases: b.n.knownNames()}
	if a := b.n.owned.Load(); a != nil {
		for p, ok := range a.parts {
			if ok {
				d.Owned = append(d.Owned, p)
			}
		}
	}
	return json.Marshal(d)
}

// AssignGroups implements kafka.GroupBalancer.
func (b balancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ms := make([]member, 0, len(members))
	for _, m := range members {
		var d memberData
		_ = json.Unmarshal(m.UserData, &d) // a member without data still gets partitions
		ms = append(ms, member{id: m.ID, cases: d.Cases, owned: d.Owned})
	}
	topic := b.n.schedule
	var ids []int
	for _, p := range partitions {
		if p.Topic == topic {
			ids = append(ids, p.ID)
		}
	}
	out := kafka.GroupMemberAssignments{}
	for id, parts := range assign(ms, ids) {
		out[id] = map[string][]int{topic: parts}
	}
	return out
}

// member is one group member as the balancer sees it.
type member struct {
	id    string
	cases []string
	owned []int
}

// assign gives every partition in parts to one member. Partitions are
// weighted by the number of known cases that hash to them (the union of every
// member's names); heavier ones go first, each to its previous owner if that
// owner stays within its fair share of cases (of partitions, for a
// partition without cases), otherwise to the least loaded member. The result
// is deterministic for a given input.
func assign(members []member, parts []int) map[string][]int {
	out := make(map[string][]int, len(members))
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b member) int { return cmp.Compare(a.id, b.id) })
	numParts := 0
	for _, p := range parts {
		numParts = max(numParts, p+1)
	}
	weight := make([]int, numParts)
	names := map[string]bool{}
	prev := make(map[int]int, numParts) // partition → member index
	for i, m := range members {
		out[m.id] = []int{}
		for _, name := range m.cases {
			if !names[name] {
				names[name] = true
				weight[partitionOf(name, numParts)]++
			}
		}
		for _, p := range m.owned {
			if _, taken := prev[p]; !taken {
				prev[p] = i
			}
		}
	}
	totalW := len(names)
	M := len(members)
	capW := (totalW + M - 1) / M
	capP := (len(parts) + M - 1) / M
	loadW := make([]int, M)
	loadP := make([]int, M)

	order := slices.Clone(parts)
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(weight[b], weight[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, p := range order {
		w := weight[p]
		pick := -1
		if i, ok := prev[p]; ok {
			if (w > 0 && loadW[i]+w <= capW) || (w == 0 && loadP[i]+1 <= capP) {
				pick = i
			}
		}
		if pick < 0 {
			pick = 0
			for i := 1; i < M; i++ {
				if w > 0 && loadW[i] != loadW[pick] {
					if loadW[i] < loadW[pick] {
						pick = i
					}
					continue
				}
				if loadP[i] < loadP[pick] {
					pick = i
				}
			}
		}
		loadW[pick] += w
		loadP[pick]++
		out[members[pick].id] = append(out[members[pick].id], p)
	}
	for id := range out {
		slices.Sort(out[id])
	}
	return out
}
