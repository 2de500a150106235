package pipeline

import (
	"sort"
	"sync"

	"github.com/segmentio/kafka-go"
)

// tracker decides which offsets may be committed while events are processed
// concurrently: per partition, only the longest prefix of fetched offsets
// whose processing finished. It also bounds how many fetched events may wait
// for their commit (window). It is safe for concurrent use.
type tracker struct {
	mu     sync.Mutex
	parts  map[topicPartition]*partState
	window chan struct{} // one token per tracked (fetched, not yet committable) offset
}

type topicPartition struct {
	topic     string
	partition int
}

type partState struct {
	epoch   uint64  // bumped when the reader rewinds (a rebalance)
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
	tp     topicPartition
	epoch  uint64
	offset int64
}

func newTracker(window int) *tracker {
	return &tracker{parts: map[topicPartition]*partState{}, window: make(chan struct{}, window)}
}

// add tracks a fetched message. The caller must hold a window token (see
// acquire), which the tracker releases when the offset becomes committable
// or is dropped.
func (t *tracker) add(m kafka.Message) token {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := topicPartition{m.Topic, m.Partition}
	ps := t.parts[tp]
	if ps == nil {
		ps = &partState{commit: -1, last: -1}
		t.parts[tp] = ps
	}
	if m.Offset <= ps.last {
		// The reader went back (it resumed from the committed offset after a
		// rebalance). Messages in flight from before will be fetched again;
		// their completions no longer count.
		ps.epoch++
		t.release(len(ps.entries))
		ps.entries = nil
	}
	ps.last = m.Offset
	ps.entries = append(ps.entries, entry{offset: m.Offset})
	return token{tp: tp, epoch: ps.epoch, offset: m.Offset}
}

// done marks a message finished and advances the partition's committable
// offset over the finished prefix.
func (t *tracker) done(tok token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := t.parts[tok.tp]
	if ps == nil || ps.epoch != tok.epoch {
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

// pending returns one message per partition whose committable offset advanced
// since the last call (kafka-go commits Offset+1), marking them clean.
func (t *tracker) pending() []kafka.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var msgs []kafka.Message
	for tp, ps := range t.parts {
		if ps.dirty {
			msgs = append(msgs, kafka.Message{Topic: tp.topic, Partition: tp.partition, Offset: ps.commit})
			ps.dirty = false
		}
	}
	return msgs
}

// failed marks the partitions of msgs dirty again after a failed commit,
// unless they advanced meanwhile.
func (t *tracker) failed(msgs []kafka.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		if ps := t.parts[topicPartition{m.Topic, m.Partition}]; ps != nil && ps.commit == m.Offset {
			ps.dirty = true
		}
	}
}
