package webhook

import (
	"sync"
	"sync/atomic"
	"time"
)

// seenIDs remembers the delivery ids of recorded deliveries for a window, so
// that a replay or a transport retry of one is not recorded twice. It holds
// at most max ids (in flight or recorded); each is forgotten window after it
// was recorded. It is safe for concurrent use.
type seenIDs struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	ids    map[string]seenState
	order  []seenAt // recorded ids, oldest first, from head
	head   int
}

type seenState struct {
	inFlight bool
	expires  time.Time
}

type seenAt struct {
	id      string
	expires time.Time
}

// reservation outcomes.
const (
	idNew      = iota // reserved: record the delivery, then commit or release
	idSeen            // recorded before: a replay or a retry
	idInFlight        // being recorded by another request right now
	idFull            // no room for another id
)

func newSeenIDs(window time.Duration, max int) *seenIDs {
	return &seenIDs{window: window, max: max, ids: make(map[string]seenState)}
}

// reserve looks id up and, when it is new, reserves it as in flight.
func (s *seenIDs) reserve(id string, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if st, ok := s.ids[id]; ok {
		if st.inFlight {
			return idInFlight
		}
		return idSeen
	}
	if len(s.ids) >= s.max {
		return idFull
	}
	s.ids[id] = seenState{inFlight: true}
	return idNew
}

// commit marks a reserved id recorded; it is kept for the window.
func (s *seenIDs) commit(id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp := now.Add(s.window)
	s.ids[id] = seenState{expires: exp}
	s.order = append(s.order, seenAt{id, exp})
}

// release forgets a reserved id whose delivery was not recorded, so that
// the sender's retry is recorded.
func (s *seenIDs) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.ids[id]; ok && st.inFlight {
		delete(s.ids, id)
	}
}

// expire drops recorded ids whose window ended. Called with s.mu held.
func (s *seenIDs) expire(now time.Time) {
	for s.head < len(s.order) && now.After(s.order[s.head].expires) {
		e := s.order[s.head]
		if st, ok := s.ids[e.id]; ok && !st.inFlight && st.expires.Equal(e.expires) {
			delete(s.ids, e.id)
		}
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
