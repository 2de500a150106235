package orbital

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestQueueMatchesASortedList drives the scheduler's queue through a simulated clock (cases of
// several periods, wakes late by up to several periods, cases moved as Reassigned moves them,
// cases added on the way) and checks every wake against a plain list sorted by key: the same
// cases due, none early, none left behind, in the order they were due.
func TestQueueMatchesASortedList(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			s := New()
			s.queue.reset()
			now := epoch.Add(time.Hour)
			periods := []time.Duration{time.Second, 3 * time.Second, 100 * time.Millisecond, time.Minute}
			var all []*caseState
			add := func() {
				p := periods[rng.IntN(len(periods))]
				cs := &caseState{tc: TestCase{Name: fmt.Sprint("c", len(all)), Period: p}}
				s.setNext(cs, now.Add(time.Duration(rng.Int64N(int64(p)))))
				s.queue.push(cs)
				all = append(all, cs)
			}
			for range 300 {
				add()
			}
			for step := range 3000 {
				// Mostly a few milliseconds; now and then late by up to three minutes.
				adv := time.Duration(rng.IntN(5_000_000))
				if rng.IntN(200) == 0 {
					adv = time.Duration(rng.Int64N(int64(3 * time.Minute)))
				}
				now = now.Add(adv)
				want := dueAt(all, now)
				got := s.popDue(nil, now)
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: popDue returned %d cases, want %d (in key order)", step, len(got), len(want))
				}
				for _, cs := range all {
					if !cs.next.After(now) {
						t.Fatalf("step %d: %s left at a time not after now", step, cs.tc.Name)
					}
				}
				switch rng.IntN(50) {
				case 0:
					add()
				case 1: // as Reassigned does: a new time within a period
					moveSome(s, rng, all, now, 1)
				case 2: // a rebalance: several at once
					moveSome(s, rng, all, now, 1+rng.IntN(20))
				}
				if top, ok := s.queue.top(); !ok || top != minKey(all) {
					t.Fatalf("step %d: top is not the case due first", step)
				}
			}
			if n := s.queue.len(); n != len(all) {
				t.Fatalf("queue holds %d cases, want %d", n, len(all))
			}
		})
	}
}

// moveSome moves n random cases of all to new times within a period of now, in one call of
// moved as Reassigned makes it.
func moveSome(s *Service, rng *rand.Rand, all []*caseState, now time.Time, n int) {
	var css []*caseState
	for range n {
		cs := all[rng.IntN(len(all))]
		s.setNext(cs, now.Add(time.Duration(rng.Int64N(int64(cs.tc.Period)))))
		css = append(css, cs)
	}
	s.queue.moved(css...)
}

// dueAt is the cases due at now in the order they were due (key, then queue order for equal
// keys is not specified: the test's keys are distinct by construction of rng.N).
func dueAt(all []*caseState, now time.Time) []*caseState {
	nowKey := monotonic(now)
	var due []*caseState
	for _, cs := range all {
		if cs.key <= nowKey {
			due = append(due, cs)
		}
	}
	slices.SortStableFunc(due, func(a, b *caseState) int { return cmp.Compare(a.key, b.key) })
	return due
}

func minKey(all []*caseState) *caseState {
	m := all[0]
	for _, cs := range all[1:] {
		if cs.key < m.key {
			m = cs
		}
	}
	return m
}

// TestPopDueLeavesEveryRingSorted drives a queue of a dozen periods through wakes late by up
// to several periods (the cases' next runs jump, out of order) and checks after each popDue that
// every ring is sorted and the rings are in heap order by their fronts.
func TestPopDueLeavesEveryRingSorted(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 2))
		s := New()
		s.queue.reset()
		now := epoch.Add(time.Hour)
		for i := range 200 {
			p := time.Duration(1+rng.IntN(12)) * 10 * time.Millisecond
			cs := &caseState{tc: TestCase{Name: fmt.Sprint("c", i), Period: p}}
			s.setNext(cs, now.Add(time.Duration(rng.Int64N(int64(p)))))
			s.queue.push(cs)
		}
		for step := range 50 {
			now = now.Add(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
			s.popDue(nil, now)
			for i, r := range s.queue.heap {
				if r.dirty {
					t.Fatalf("seed %d step %d: ring %v left dirty", seed, step, r.period)
				}
				for j := r.head + 1; j < len(r.items); j++ {
					if r.items[j-1].key > r.items[j].key {
						t.Fatalf("seed %d step %d: ring %v unsorted", seed, step, r.period)
					}
				}
				if i > 0 && s.queue.heap[(i-1)/2].front() > r.front() {
					t.Fatalf("seed %d step %d: heap out of order", seed, step)
				}
			}
		}
	}
}

// len is the number of cases queued (for the tests).
func (q *caseQueue) len() int {
	n := 0
	for _, r := range q.heap {
		n += len(r.items) - r.head
	}
	return n
}
