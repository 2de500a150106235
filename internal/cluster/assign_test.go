package cluster_test

import (
	"fmt"
	"maps"
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
