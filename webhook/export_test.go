package webhook

import "strconv"

// Waiting returns how many callers of Wait, WaitN or WaitNone are registered
// as waiters on key's pending entry. A registered caller has found the key
// pending without the delivery it waits for and can now return only when
// the entry notifies it (a delivery, Delete, TTL eviction) or its ctx ends:
// tests use it to know a waiter is blocked, not just started.
func Waiting(l *RouteLogger, key string) int {
	s, tag := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key, tag)
	if e == nil {
		return 0
	}
	n := 0
	for w := e.waiters; w != nil; w = w.next {
		n++
	}
	return n
}

// SameShard reports whether keys a and b share a shard of l (and so its
// lock, its map and its sweeps).
func SameShard(l *RouteLogger, a, b string) bool {
	sa, _ := l.shard(a)
	sb, _ := l.shard(b)
	return sa == sb
}

// ShardMates returns the first n keys prefix0, prefix1, ... other than key
// that share key's shard of l.
func ShardMates(l *RouteLogger, key, prefix string, n int) []string {
	var mates []string
	for i := 0; len(mates) < n; i++ {
		if k := prefix + strconv.Itoa(i); k != key && SameShard(l, key, k) {
			mates = append(mates, k)
		}
	}
	return mates
}

// HeldSize is what an unmatched delivery counts against WithMaxUnmatchedBytes.
var HeldSize = heldSize

// UnmatchedQueueLen is the length of l's queue of unmatched deliveries,
// taken ones included until a compaction drops them.
func UnmatchedQueueLen(l *RouteLogger) int {
	l.unmatched.mu.Lock()
	defer l.unmatched.mu.Unlock()
	return len(l.unmatched.queue)
}
