package orbital

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// caseQueue is the cases waiting for their next scheduled run, in the order they are due.
//
// The cases of one period form a ring, sorted by when they are due: the case due first is
// taken from the front and, due a period later, goes to the back, where it belongs, since
// every case of the ring is due within a period of it. A run then costs the scheduler no
// heap sift (which, at 10,000 cases, is a chain of cache misses through a heap ordered by
// time): the front of a ring is read in order, and only the few rings (one per distinct
// period) are kept in a heap by their front. A case that does not go to the back in order
// (ticks dropped for lateness, a case gained by this replica) marks its ring for sorting.
// Guarded by Service.mu.
type caseQueue struct {
	rings map[time.Duration]*caseRing
	heap  []*caseRing // the rings, by the key of their front (a min-heap)
}

// caseRing is the cases of one period: items[head:], sorted by key unless dirty.
type caseRing struct {
	items  []heapItem
	head   int
	at     int           // index in caseQueue.heap
	dirty  bool          // a case went out of order: sort before the next use
	period time.Duration // of its cases
}

type heapItem struct {
	key int64 // the case's key when it was placed
	cs  *caseState
}

// front is the ring's first key; math.MaxInt64 for an empty ring.
func (r *caseRing) front() int64 {
	if r.head == len(r.items) {
		return math.MaxInt64
	}
	return r.items[r.head].key
}

// reset empties q.
func (q *caseQueue) reset() { *q = caseQueue{} }

// push queues cs at its key.
func (q *caseQueue) push(cs *caseState) {
	r := q.rings[cs.tc.Period]
	if r == nil {
		if q.rings == nil {
			q.rings = make(map[time.Duration]*caseRing)
		}
		r = &caseRing{at: len(q.heap), period: cs.tc.Period}
		q.rings[cs.tc.Period] = r
		q.heap = append(q.heap, r)
	}
	live := r.items[r.head:]
	i, _ := slices.BinarySearchFunc(live, cs.key, func(it heapItem, k int64) int {
		return cmp.Compare(it.key, k+1) // after the items of the same key
	})
	r.items = slices.Insert(r.items, r.head+i, heapItem{cs.key, cs})
	q.fix(r)
}

// top is the case due first.
func (q *caseQueue) top() (*caseState, bool) {
	if len(q.heap) == 0 || q.heap[0].front() == math.MaxInt64 {
		return nil, false
	}
	r := q.heap[0]
	return r.items[r.head].cs, true
}

// wakeKey is the key by which the scheduler must wake, the earliest of every ring's front plus
// the slack of its period, with that slack; ok is false for an empty queue. The case due first
// is not enough: one of a shorter period (a smaller slack) due just after it would start late
// by more than its own slack.
func (q *caseQueue) wakeKey() (key int64, slack time.Duration, ok bool) {
	for _, r := range q.heap {
		f := r.front()
		if f == math.MaxInt64 {
			continue
		}
		sl := slackOf(r.period)
		if k := f + int64(sl); !ok || k < key {
			key, slack, ok = k, sl, true
		}
	}
	return key, slack, ok
}

// popDue appends the cases due at nowKey to due, in order, after advance has moved each to
// its next run (a key after nowKey), and queues them there.
func (q *caseQueue) popDue(nowKey int64, due []*caseState, advance func(*caseState)) []*caseState {
	for len(q.heap) > 0 && q.heap[0].front() <= nowKey {
		r := q.heap[0]
		cs := r.items[r.head].cs
		r.items[r.head] = heapItem{}
		r.head++
		due = append(due, cs)
		advance(cs)
		if n := len(r.items); n > r.head && r.items[n-1].key > cs.key {
			r.dirty = true // its keys after nowKey are not popped in this loop: sorted below
		}
		r.items = append(r.items, heapItem{cs.key, cs})
		if r.head > len(r.items)/2 { // keep the ring's memory to about twice its cases
			r.items = r.items[:copy(r.items, r.items[r.head:])]
			clear(r.items[len(r.items):cap(r.items)])
			r.head = 0
		}
		q.fix(r)
	}
	for _, r := range q.heap {
		q.settle(r)
	}
	return due
}

// moved re-places the cases css after their keys changed: each ring holding one is sorted
// once, however many of its cases moved (a rebalance may move thousands; sorting the ring per
// case, under the lock every run's start needs, took a quarter of a second at 10,000 cases).
func (q *caseQueue) moved(css ...*caseState) {
	for _, cs := range css {
		if r := q.rings[cs.tc.Period]; r != nil {
			r.dirty = true
		}
	}
	for _, r := range q.rings { // not q.heap, which settle reorders
		if !r.dirty {
			continue
		}
		for i := r.head; i < len(r.items); i++ {
			r.items[i].key = r.items[i].cs.key // only the moved ones' differ
		}
		q.settle(r)
	}
}

// settle sorts r if it is dirty.
func (q *caseQueue) settle(r *caseRing) {
	if !r.dirty {
		return
	}
	slices.SortStableFunc(r.items[r.head:], func(a, b heapItem) int { return cmp.Compare(a.key, b.key) })
	r.dirty = false
	q.fix(r)
}

// fix restores the heap of rings after r's front changed.
func (q *caseQueue) fix(r *caseRing) {
	h := q.heap
	i := r.at
	for i > 0 { // up
		p := (i - 1) / 2
		if h[p].front() <= h[i].front() {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[p].at, h[i].at = p, i
		i = p
	}
	for { // down
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1].front() < h[c].front() {
			c++
		}
		if h[i].front() <= h[c].front() {
			break
		}
		h[c], h[i] = h[i], h[c]
		h[c].at, h[i].at = c, i
		i = c
	}
}
