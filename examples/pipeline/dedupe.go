package pipeline

import "sync"

// dedupe remembers the last n messageIds the worker processed. An id that is
// still being processed can be waited for, so a duplicate (a redelivery after
// a rebalance, say) never finishes before the original: its offset must not
// be committed while the original may still fail. It is safe for concurrent
// use.
type dedupe struct {
	mu   sync.Mutex
	n    int
	ids  map[string]*dedupeEntry
	ring []*dedupeEntry // insertion order; ring[next] is the oldest once full
	next int
}

type dedupeEntry struct {
	id        string
	done      chan struct{} // closed when processing finished
	abandoned bool          // set by forget; guarded by dedupe.mu
}

func newDedupe(n int) *dedupe {
	return &dedupe{n: n, ids: make(map[string]*dedupeEntry, min(n, 1<<16))}
}

// begin records id. It returns (entry, true) for an id not seen in the window;
// the caller must call finish or forget with the entry. Otherwise it returns
// the earlier entry and false.
func (d *dedupe) begin(id string) (*dedupeEntry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.ids[id]; ok {
		return e, false
	}
	e := &dedupeEntry{id: id, done: make(chan struct{})}
	d.ids[id] = e
	if len(d.ring) < d.n {
		d.ring = append(d.ring, e)
		return e, true
	}
	old := d.ring[d.next]
	if d.ids[old.id] == old {
		delete(d.ids, old.id)
	}
	d.ring[d.next] = e
	d.next = (d.next + 1) % d.n
	return e, true
}

// finish marks e processed; duplicates are dropped from now on.
func (d *dedupe) finish(e *dedupeEntry) { close(e.done) }

// forget removes e, whose processing was abandoned, so that a redelivery is
// processed again.
func (d *dedupe) forget(e *dedupeEntry) {
	d.mu.Lock()
	e.abandoned = true
	if d.ids[e.id] == e {
		delete(d.ids, e.id)
	}
	d.mu.Unlock()
	close(e.done)
}

// forgotten reports whether e was forgotten rather than finished. An entry
// that merely fell out of the window while it was processed was finished:
// asking the map instead would strand its duplicates uncommitted.
func (d *dedupe) forgotten(e *dedupeEntry) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return e.abandoned
}
