package cluster_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/orbital-e2e/orbital/internal/cluster"
)

func partitionsUpTo(n int) []int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return ps
}

// casesOf counts, per member, the cases whose partition it was given.
func casesOf(got map[string][]int, names []string, parts int) map[string]int {
	out := map[string]int{}
	for id, ps := range got {
		out[id] = 0
		for _, name := range names {
			if slices.Contains(ps, cluster.PartitionOf(name, parts)) {
				out[id]++
			}
		}
	}
	return out
}

func TestAssign(t *testing.T) {
	six := []string{"track", "batch", "kafka", "browser", "dedupe", "reject"}
	tests := []struct {
		name    string
		members []cluster.Member
		parts   int
		// want: per member, the number of cases (min and max over members)
		minCases, maxCases int
	}{
		{"one member takes all", []cluster.Member{cluster.NewMember("a", six, nil)}, 64, 6, 6},
		{"three members share six cases", []cluster.Member{
			cluster.NewMember("a", six, nil), cluster.NewMember("b", six, nil), cluster.NewMember("c", six, nil),
		}, 64, 2, 2},
		{"names from one member are enough", []cluster.Member{
			cluster.NewMember("a", nil, nil), cluster.NewMember("b", six, nil), cluster.NewMember("c", nil, nil),
		}, 64, 2, 2},
		{"more members than cases", []cluster.Member{
			cluster.NewMember("a", six[:2], nil), cluster.NewMember("b", nil, nil), cluster.NewMember("c", nil, nil),
		}, 64, 0, 1},
		{"no names: partitions only", []cluster.Member{
			cluster.NewMember("a", nil, nil), cluster.NewMember("b", nil, nil),
		}, 8, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cluster.Assign(tt.members, partitionsUpTo(tt.parts))
			// every partition exactly once
			var all []int
			for _, ps := range got {
				all = append(all, ps...)
			}
			slices.Sort(all)
			if !reflect.DeepEqual(all, partitionsUpTo(tt.parts)) {
				t.Fatalf("partitions assigned: %v, want each of 0..%d once", all, tt.parts-1)
			}
			// partitions spread evenly
			for id, ps := range got {
				if n := len(ps); n < tt.parts/len(tt.members) || n > (tt.parts+len(tt.members)-1)/len(tt.members) {
					t.Errorf("member %s got %d partitions of %d", id, n, tt.parts)
				}
			}
			var names []string
			for _, m := range tt.members {
				names = append(names, cluster.MemberCases(m)...)
			}
			slices.Sort(names)
			names = slices.Compact(names)
			for id, n := range casesOf(got, names, tt.parts) {
				if n < tt.minCases || n > tt.maxCases {
					t.Errorf("member %s runs %d cases, want %d..%d (%v)", id, n, tt.minCases, tt.maxCases, got)
				}
			}
			// deterministic, whatever the member order
			rev := slices.Clone(tt.members)
			slices.Reverse(rev)
			if again := cluster.Assign(rev, partitionsUpTo(tt.parts)); !maps.EqualFunc(got, again, slices.Equal) {
				t.Errorf("assignment depends on member order: %v vs %v", got, again)
			}
		})
	}
}

// TestAssignSticky checks that a rebalance moves only what it must: when a
// member joins, the others keep their cases up to their new fair share; when
// one leaves, the others keep all of theirs.
func TestAssignSticky(t *testing.T) {
	names := make([]string, 12)
	for i := range names {
		names[i] = fmt.Sprintf("case-%02d", i)
	}
	const parts = 64
	two := cluster.Assign([]cluster.Member{cluster.NewMember("a", names, nil), cluster.NewMember("b", names, nil)}, partitionsUpTo(parts))
	three := cluster.Assign([]cluster.Member{
		cluster.NewMember("a", names, two["a"]), cluster.NewMember("b", names, two["b"]), cluster.NewMember("c", names, nil),
	}, partitionsUpTo(parts))
	moved := 0
	for _, name := range names {
		p := cluster.PartitionOf(name, parts)
		for _, id := range []string{"a", "b"} {
			if slices.Contains(two[id], p) && !slices.Contains(three[id], p) {
				moved++
			}
		}
	}
	c := casesOf(three, names, parts)
	if c["c"] == 0 {
		t.Fatalf("the new member got no case: %v", c)
	}
	if moved != c["c"] {
		t.Errorf("%d cases moved for %d taken by the new member", moved, c["c"])
	}
	back := cluster.Assign([]cluster.Member{
		cluster.NewMember("a", names, three["a"]), cluster.NewMember("b", names, three["b"]),
	}, partitionsUpTo(parts))
	for _, id := range []string{"a", "b"} {
		for _, p := range three[id] {
			if !slices.Contains(back[id], p) && slices.ContainsFunc(names, func(n string) bool { return cluster.PartitionOf(n, parts) == p }) {
				t.Errorf("member %s lost partition %d (with cases) when c left", id, p)
			}
		}
	}
}

// distinctCases returns n case names that hash to n different partitions
// of parts, so a perfectly fair share of cases is always possible.
func distinctCases(n, parts int) []string {
	var names []string
	used := map[int]bool{}
	for i := 0; len(names) < n; i++ {
		name := fmt.Sprintf("case-%03d", i)
		if p := cluster.PartitionOf(name, parts); !used[p] {
			used[p] = true
			names = append(names, name)
		}
	}
	return names
}

// checkFairShare fails the test when a member runs more cases than its fair
// share (total/members rounded up) or holds more partitions than its share
// of partitions rounded up. (Fewer is allowed once there are previous
// owners: a previous owner keeps its cases up to its fair share, so with 7
// cases on 6 members three may keep 2 each and two run none.)
func checkFairShare(t *testing.T, what string, members []cluster.Member, got map[string][]int, names []string, parts int) {
	t.Helper()
	m := len(members)
	hi := (len(names) + m - 1) / m
	total := 0
	for id, n := range casesOf(got, names, parts) {
		total += n
		if n > hi {
			t.Errorf("%s: member %s runs %d of %d cases, over its fair share of %d (%v)", what, id, n, len(names), hi, got)
		}
	}
	if total != len(names) {
		t.Errorf("%s: %d cases assigned, want each of %d once", what, total, len(names))
	}
	for id, ps := range got {
		if n := len(ps); n > (parts+m-1)/m {
			t.Errorf("%s: member %s holds %d of %d partitions, fair share is at most %d", what, id, n, parts, (parts+m-1)/m)
		}
	}
	var all []int
	for _, ps := range got {
		all = append(all, ps...)
	}
	slices.Sort(all)
	if !slices.Equal(all, partitionsUpTo(parts)) {
		t.Errorf("%s: partitions assigned %v, want each of 0..%d once", what, all, parts-1)
	}
	if len(got) != m {
		t.Errorf("%s: %d members in the assignment, want %d", what, len(got), m)
	}
}

// TestAssignFairShareWithPreviousOwners: keeping partitions where they were
// must never leave a member over its fair share, whatever the previous
// ownership (members joining, leaving, one that ran everything alone, a
// skewed split).
func TestAssignFairShareWithPreviousOwners(t *testing.T) {
	const parts = 64
	names := distinctCases(12, parts)
	caseParts := func(ns []string) []int {
		var ps []int
		for _, n := range ns {
			ps = append(ps, cluster.PartitionOf(n, parts))
		}
		return ps
	}
	two := cluster.Assign([]cluster.Member{cluster.NewMember("a", names, nil), cluster.NewMember("b", names, nil)}, partitionsUpTo(parts))
	three := cluster.Assign([]cluster.Member{
		cluster.NewMember("a", names, nil), cluster.NewMember("b", names, nil), cluster.NewMember("c", names, nil),
	}, partitionsUpTo(parts))
	tests := []struct {
		name    string
		members []cluster.Member
	}{
		{"a third member joins two", []cluster.Member{
			cluster.NewMember("a", names, two["a"]), cluster.NewMember("b", names, two["b"]), cluster.NewMember("c", names, nil),
		}},
		{"two join one that ran everything", []cluster.Member{
			cluster.NewMember("a", names, partitionsUpTo(parts)), cluster.NewMember("b", names, nil), cluster.NewMember("c", names, nil),
		}},
		{"one of three leaves", []cluster.Member{
			cluster.NewMember("a", names, three["a"]), cluster.NewMember("c", names, three["c"]),
		}},
		{"skewed previous split", []cluster.Member{
			cluster.NewMember("a", names, caseParts(names[:9])), cluster.NewMember("b", names, caseParts(names[9:])), cluster.NewMember("c", names, nil),
		}},
		{"both previous owners claim every partition", []cluster.Member{
			cluster.NewMember("a", names, partitionsUpTo(parts)), cluster.NewMember("b", names, partitionsUpTo(parts)), cluster.NewMember("c", names, nil), cluster.NewMember("d", nil, nil),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cluster.Assign(tt.members, partitionsUpTo(parts))
			checkFairShare(t, tt.name, tt.members, got, names, parts)
		})
	}
}

// TestAssignFairShareRandom checks the same bound over many seeded random
// groups: member count, known cases, which member knows which names, and a
// random previous owner (possibly a departed member) for every partition.
func TestAssignFairShareRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 1))
	for round := range 300 {
		parts := []int{8, 16, 64}[rng.IntN(3)]
		m := 1 + rng.IntN(6)
		names := distinctCases(rng.IntN(parts/2+1), parts)
		ids := make([]string, m+1) // the last one has left the group
		for i := range ids {
			ids[i] = fmt.Sprintf("m%d", i)
		}
		owned := map[string][]int{}
		for p := range parts {
			if rng.IntN(4) > 0 { // some partitions have no previous owner
				id := ids[rng.IntN(len(ids))]
				owned[id] = append(owned[id], p)
			}
		}
		var members []cluster.Member
		for i, id := range ids[:m] {
			known := names
			if i > 0 && rng.IntN(2) == 0 {
				known = nil // names from one member are enough
			}
			members = append(members, cluster.NewMember(id, known, owned[id]))
		}
		got := cluster.Assign(members, partitionsUpTo(parts))
		checkFairShare(t, fmt.Sprintf("round %d (%d members, %d cases, %d partitions)", round, m, len(names), parts), members, got, names, parts)
		if t.Failed() {
			return
		}
	}
}

// TestAssignFairSharePartitionsOnly: without cases, a previous owner of
// every partition keeps only its share of partitions.
func TestAssignFairSharePartitionsOnly(t *testing.T) {
	for _, tt := range []struct{ parts, members int }{{8, 2}, {8, 3}, {16, 3}, {64, 5}} {
		var members []cluster.Member
		for i := range tt.members {
			var owned []int
			if i == 0 {
				owned = partitionsUpTo(tt.parts)
			}
			members = append(members, cluster.NewMember(fmt.Sprintf("m%d", i), nil, owned))
		}
		got := cluster.Assign(members, partitionsUpTo(tt.parts))
		checkFairShare(t, fmt.Sprintf("%d partitions, %d members", tt.parts, tt.members), members, got, nil, tt.parts)
	}
}

// TestAssignKeepsABalancedAssignment: when the previous assignment is
// already fair (cases and partitions), nothing moves.
func TestAssignKeepsABalancedAssignment(t *testing.T) {
	const parts = 16
	names := distinctCases(6, parts)
	first := cluster.Assign([]cluster.Member{
		cluster.NewMember("a", names, nil), cluster.NewMember("b", names, nil), cluster.NewMember("c", names, nil),
	}, partitionsUpTo(parts))
	again := cluster.Assign([]cluster.Member{
		cluster.NewMember("c", names, first["c"]), cluster.NewMember("b", names, first["b"]), cluster.NewMember("a", names, first["a"]),
	}, partitionsUpTo(parts))
	if !maps.EqualFunc(first, again, slices.Equal) {
		t.Fatalf("a fair assignment moved: %v then %v", first, again)
	}
	// Without cases too.
	odd := map[string][]int{"a": {0, 3, 5, 7, 9, 11}, "b": {1, 2, 4, 6, 8}, "c": {10, 12, 13, 14, 15}}
	kept := cluster.Assign([]cluster.Member{
		cluster.NewMember("a", nil, odd["a"]), cluster.NewMember("b", nil, odd["b"]), cluster.NewMember("c", nil, odd["c"]),
	}, partitionsUpTo(parts))
	if !maps.EqualFunc(odd, kept, slices.Equal) {
		t.Fatalf("a fair assignment of partitions without cases moved: %v then %v", odd, kept)
	}
}

// TestAssignFairShareWithSharedPartitions: when two cases hash to one
// partition, the cases still spread by count: 2 and 1 and 1 on two members
// is 2 each, not 3 and 1.
func TestAssignFairShareWithSharedPartitions(t *testing.T) {
	const parts = 8
	byPart := map[int][]string{}
	var pair []string // two names on one partition
	for i := 0; pair == nil; i++ {
		name := fmt.Sprintf("case-%03d", i)
		p := cluster.PartitionOf(name, parts)
		byPart[p] = append(byPart[p], name)
		if len(byPart[p]) == 2 {
			pair = byPart[p]
		}
	}
	names := slices.Clone(pair)
	for _, n := range distinctCases(parts, parts) {
		if p := cluster.PartitionOf(n, parts); p != cluster.PartitionOf(pair[0], parts) && len(names) < 4 {
			names = append(names, n)
		}
	}
	members := []cluster.Member{cluster.NewMember("a", names, nil), cluster.NewMember("b", names, nil)}
	got := cluster.Assign(members, partitionsUpTo(parts))
	checkFairShare(t, "a shared partition", members, got, names, parts)
}
