package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
)

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

// Crashable routes every Kafka connection of a node started with c through a
// switch and returns crash, which cuts them all and refuses new ones: from
// Kafka's side the node is gone without leaving the group, as when its
// process dies. The node's own goroutines keep running (and keep failing)
// until Close.
func Crashable(c *Config) (crash func()) {
	s := &killSwitch{conns: map[net.Conn]struct{}{}}
	c.dial = s.dial
	return s.crash
}

type killSwitch struct {
	mu      sync.Mutex
	crashed bool
	conns   map[net.Conn]struct{}
}

func (s *killSwitch) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		conn.Close()
		return nil, errors.New("crashed")
	}
	s.conns[conn] = struct{}{}
	return conn, nil
}

func (s *killSwitch) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crashed = true
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// SlotOf is the slot a key carries, -1 for none.
var SlotOf = slotOf

// NewSlotID is a trace id carrying slot.
var NewSlotID = newSlotID

// Slots returns the receipts partitions n uses for its trace ids now.
func (n *Node) Slots() []int {
	if s := n.slots.Load(); s != nil {
		return append([]int(nil), (*s)...)
	}
	return nil
}
