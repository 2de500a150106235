package webhook

import (
	"sync"
	"sync/atomic"
)

// heldOverhead is what one held delivery counts against the byte bound on
// top of the bytes it holds.
const heldOverhead = 256

// heldSize is what a held delivery counts against the byte bound: its body,
// header (up to the server's MaxHeaderBytes, 1 MiB by default, so a flood of
// header-only deliveries must count too), other strings, key and overhead.
func heldSize(key string, r Request) int64 {
	n := len(key) + len(r.Body) + len(r.RawURL) + len(r.RemoteAddr) + len(r.Method) + len(r.Proto)
	for k, vs := range r.Header {
		n += len(k)
		for _, v := range vs {
			n += len(v) + 16 // the string header in the slice
		}
	}
	return int64(n) + heldOverhead
}

// unmatchedStore keeps deliveries for keys that were not pending, for a
// bounded time, count and size, so that a Sent shortly after can match
// them. Its mutex is always taken while holding a shard's mutex (never the
// other way round). Safe for concurrent use.
type unmatchedStore struct {
	mu       sync.Mutex
	count    atomic.Int64 // deliveries held; read without mu as a fast path
	bytes    int64
	byKey    map[string][]*held
	queue    []*held // arrival order; taken entries are skipped
	grace    int64
	max      int
	maxBytes int64
}

type held struct {
	key   string
	req   Request
	at    int64
	size  int64
	taken bool // matched by Sent or evicted
}

func (u *unmatchedStore) init(c routeConfig) {
	u.byKey = make(map[string][]*held)
	u.grace = int64(c.grace)
	u.max = c.maxUnmatched
	u.maxBytes = c.maxUnmatchedBytes
}

// add keeps r for key and returns how many held deliveries it evicted for
// age and for the bounds.
func (u *unmatchedStore) add(key string, r Request, now int64) (expired, overflow int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	expired = u.expireLocked(now)
	if u.grace <= 0 || u.max <= 0 {
		return expired, 1
	}
	h := &held{key: key, req: r, at: now, size: heldSize(key, r)}
	u.byKey[key] = append(u.byKey[key], h)
	u.queue = append(u.queue, h)
	u.count.Add(1)
	u.bytes += h.size
	for int(u.count.Load()) > u.max || u.bytes > u.maxBytes {
		u.evictOldestLocked()
		overflow++
	}
	u.compactLocked()
	return expired, overflow
}

// take removes and returns the deliveries held for key (at most keep of
// them), with how many there were.
func (u *unmatchedStore) take(key string, now int64, keep int) ([]Request, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked(now)
	hs := u.byKey[key]
	if len(hs) == 0 {
		return nil, 0
	}
	delete(u.byKey, key)
	reqs := make([]Request, 0, min(len(hs), keep))
	for _, h := range hs {
		h.taken = true
		u.count.Add(-1)
		u.bytes -= h.size
		if len(reqs) < keep {
			reqs = append(reqs, h.req)
		}
	}
	u.compactLocked()
	return reqs, len(hs)
}

// expireLocked evicts held deliveries older than the grace period.
func (u *unmatchedStore) expireLocked(now int64) int {
	n := 0
	for len(u.queue) > 0 {
		h := u.queue[0]
		if !h.taken && now-h.at < u.grace {
			break
		}
		if !h.taken {
			u.removeLocked(h)
			n++
		}
		u.queue[0] = nil
		u.queue = u.queue[1:]
	}
	return n
}

// evictOldestLocked evicts the oldest held delivery.
func (u *unmatchedStore) evictOldestLocked() {
	for len(u.queue) > 0 {
		h := u.queue[0]
		u.queue[0] = nil
		u.queue = u.queue[1:]
		if !h.taken {
			u.removeLocked(h)
			return
		}
	}
}

// removeLocked drops h, which is the oldest held delivery of its key.
func (u *unmatchedStore) removeLocked(h *held) {
	h.taken = true
	hs := u.byKey[h.key]
	if len(hs) > 0 && hs[0] == h {
		hs[0] = nil
		hs = hs[1:]
	}
	if len(hs) == 0 {
		delete(u.byKey, h.key)
	} else {
		u.byKey[h.key] = hs
	}
	u.count.Add(-1)
	u.bytes -= h.size
}

// compactLocked drops taken entries from the queue when they dominate it,
// so its length stays within a constant factor of the deliveries held.
func (u *unmatchedStore) compactLocked() {
	live := int(u.count.Load())
	if len(u.queue) <= 2*live+64 {
		return
	}
	q := make([]*held, 0, 2*live+1)
	for _, h := range u.queue {
		if !h.taken {
			q = append(q, h)
		}
	}
	u.queue = q
}
