package pipeline

import (
	"sort"
	"sync"

	"github.com/segmentio/kafka-go"
)

// tracker decides which offsets may be committed while events are processed
// concurrently: per partition, only the longest prefix of fetched offsets
// whose processing finished. Its state belongs to one consumer-group
// generation and covers only the partitions assigned in it: assign starts a
// generation, revoke ends it and forgets everything, so a partition the
// worker lost is neither tracked nor committed any more. It also bounds how
// many fetched events may wait for their offset to become committable
// (window). It is safe for concurrent use.
type tracker struct {
	mu     sync.Mutex
	gen    int32 // generation the state belongs to
	owned  bool  // a generation is running
	parts  map[topicPartition]*partState
	window chan struct{} // one token per tracked (fetched, not yet committable) offset
}

type topicPartition struct {
	topic     string
	partition int
}

type partState struct {
	epoch   uint64  // bumped if the partition's reader ever goes back
	entries []entry // fetched offsets, ascending, not yet committable
	last    int64   // last fetched offset
	commit  int64   // highest committable offset; -1 none yet
	dirty   bool    // commit advanced since the last successful commit
}

type entry struct {
	offset int64
	done   bool
}

// token identifies one fetched message for done.
type token struct {
	gen    int32
	tp     topicPartition
	epoch  uint64
	offset int64
}

func newTracker(window int) *tracker {
	return &tracker{parts: map[topicPartition]*partState{}, window: make(chan struct{}, window)}
}

// assign starts generation gen owning parts. State left from an earlier
// generation is dropped: each partition is read again from its committed
// offset, and completions of events fetched before no longer count.
func (t *tracker) assign(gen int32, parts []topicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.gen, t.owned = gen, true
	for _, tp := range parts {
		t.parts[tp] = &partState{commit: -1, last: -1}
	}
}

// revoke ends generation gen (if it is the current one) and drops its state.
func (t *tracker) revoke(gen int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.owned && t.gen == gen {
		t.clear()
		t.owned = false
	}
}

func (t *tracker) clear() {
	for tp, ps := range t.parts {
		t.release(len(ps.entries))
		delete(t.parts, tp)
	}
}

// add tracks a message fetched in generation gen. It reports false, and
// tracks nothing, when gen is over or the partition is not assigned in it.
// The caller holds a window token, which the tracker releases when the
// offset becomes committable or is dropped (on false, the caller releases
// it).
func (t *tracker) add(gen int32, m kafka.Message) (token, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := topicPartition{m.Topic, m.Partition}
	ps := t.parts[tp]
	if !t.owned || t.gen != gen || ps == nil {
		return token{}, false
	}
	if m.Offset <= ps.last {
		// The reader went back. Messages in flight from before will be
		// fetched again; their completions no longer count.
		ps.epoch++
		t.release(len(ps.entries))
		ps.entries = nil
	}
	ps.last = m.Offset
	ps.entries = append(ps.entries, entry{offset: m.Offset})
	return token{gen: gen, tp: tp, epoch: ps.epoch, offset: m.Offset}, true
}

// done marks a message finished and advances the partition's committable
// offset over the finished prefix. Messages of an ended generation are
// ignored.
func (t *tracker) done(tok token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := t.parts[tok.tp]
	if !t.owned || t.gen != tok.gen || ps == nil || ps.epoch != tok.epoch {
		return
	}
	i := sort.Search(len(ps.entries), func(i int) bool { return ps.entries[i].offset >= tok.offset })
	if i == len(ps.entries) || ps.entries[i].offset != tok.offset {
		return
	}
	ps.entries[i].done = true
	n := 0
	for n < len(ps.entries) && ps.entries[n].done {
		n++
	}
	if n == 0 {
		return
	}
	ps.commit = ps.entries[n-1].offset
	ps.dirty = true
	ps.entries = append(ps.entries[:0], ps.entries[n:]...)
	t.release(n)
}

func (t *tracker) release(n int) {
	for range n {
		<-t.window
	}
}

// pending returns the current generation and, per partition whose
// committable offset advanced since the last call, the offset to commit
// (the next one to read), marking them clean.
func (t *tracker) pending() (int32, map[topicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.owned {
		return 0, nil
	}
	var offsets map[topicPartition]int64
	for tp, ps := range t.parts {
		if ps.dirty {
			if offsets == nil {
				offsets = map[topicPartition]int64{}
			}
			offsets[tp] = ps.commit + 1
			ps.dirty = false
		}
	}
	return t.gen, offsets
}

// failed marks the partitions of a failed commit of generation gen dirty
// again, unless they advanced meanwhile or the generation is over.
func (t *tracker) failed(gen int32, offsets map[topicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.owned || t.gen != gen {
		return
	}
	for tp, off := range offsets {
		if ps := t.parts[tp]; ps != nil && ps.commit+1 == off {
			ps.dirty = true
		}
	}
}
