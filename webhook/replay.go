package webhook

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// seenIDs remembers the delivery ids of recorded deliveries for a window, so
// that a replay or a transport retry of one is not recorded twice. It holds
// at most max ids (in flight or recorded); each is forgotten window after the
// time commit is given (the request's arrival). It is safe for concurrent use.
//
// An id is kept as a 128-bit hash under two per-process random seeds, not
// as its string: 24 bytes per id in a flat table (idTable) and a queue
// without pointers, which the garbage collector never scans, instead of the id's string (up to 256
// bytes, kept alive) and pointers to it. Two ids collide with probability
// about 2^-128 (the seeds are secret); only a delivery whose signature
// checked out is remembered, so a sender would need the secret even to try.
type seenIDs struct {
	// Read by every request, never written: kept off the lines below, which
	// every request writes, so that they stay in every CPU's cache.
	seeds  [2]maphash.Seed
	window int64 // nanoseconds
	max    int
	_      [64]byte

	// What every reserve and commit writes besides its id's slot and part,
	// together: the queue's ends, the lock and the table's count (the first
	// field of ids).
	head  int
	order []seenAt // recorded ids, oldest first, from head
	mu    sync.Mutex
	ids   idTable // recorded ids and when their memory ends (unix ns), and ids in flight
}

// idKey is a delivery id's 128-bit hash.
type idKey [2]uint64

type seenAt struct {
	id      idKey
	expires int64 // unix ns
}

// reservation outcomes.
const (
	idNew      = iota // reserved: record the delivery, then commit or release
	idSeen            // recorded before: a replay or a retry
	idInFlight        // being recorded by another request right now
	idFull            // no room for another id
)

func newSeenIDs(window time.Duration, max int) *seenIDs {
	return &seenIDs{
		seeds:  [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		window: int64(window), max: max,
	}
}

// key returns the key of id for reserve, commit and release.
func (s *seenIDs) key(id string) idKey {
	return idKey{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
}

// reserve looks id up and, when it is new, reserves it as in flight (in
// the same probe of the table).
func (s *seenIDs) reserve(id idKey, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now.UnixNano())
	return s.ids.claim(id, s.max)
}

// commit marks a reserved id recorded; it is kept for the window.
func (s *seenIDs) commit(id idKey, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp := now.UnixNano() + s.window
	if exp == 0 || exp == inFlight { // the table's marks of an empty slot and of an id in flight
		exp++
	}
	s.ids.set(id, exp)
	s.order = append(s.order, seenAt{id, exp})
}

// release forgets a reserved id whose delivery was not recorded, so that
// the sender's retry is recorded.
func (s *seenIDs) release(id idKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids.deleteIf(id, inFlight)
}

// expire drops recorded ids whose window ended. Called with s.mu held.
func (s *seenIDs) expire(now int64) {
	for s.head < len(s.order) && now > s.order[s.head].expires {
		e := s.order[s.head]
		s.ids.deleteIf(e.id, e.expires) // unless recorded again since
		s.order[s.head] = seenAt{}
		s.head++
	}
	if s.head > 1024 && s.head > len(s.order)/2 {
		s.order = append(s.order[:0], s.order[s.head:]...)
		s.head = 0
	}
}

// budget is a global allowance of bytes, taken by requests whose body is
// being read and not yet authenticated.
type budget struct {
	max  int64
	used atomic.Int64
}

// take takes n bytes if they fit.
func (b *budget) take(n int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (b *budget) give(n int64) { b.used.Add(-n) }
