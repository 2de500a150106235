package cluster

// Exports for the external tests.

// Member is a group member as the balancer sees it.
type Member = member

// NewMember builds a Member.
func NewMember(id string, cases []string, owned []int) Member {
	return member{id: id, cases: cases, owned: owned}
}

// Assign is the balancer's assignment function.
var Assign = assign

// PartitionOf is the case → partition hash.
var PartitionOf = partitionOf

// MemberCases returns the case names a Member knows.
func MemberCases(m Member) []string { return m.cases }
