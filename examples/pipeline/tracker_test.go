package pipeline

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestTrackerGenerations: revoke drops the state of the generation it ends,
// and only of that one; completions from an ended generation never count.
func TestTrackerGenerations(t *testing.T) {
	tp := topicPartition{"events", 0}
	tr := newTracker(10)
	take := func() { tr.window <- struct{}{} } // the fetch loop's token
	tr.assign(1, []topicPartition{tp})
	take()
	tok, ok := tr.add(1, kafka.Message{Topic: "events", Partition: 0, Offset: 5})
	if !ok {
		t.Fatal("add in the current generation refused")
	}
	tr.revoke(0) // an older generation: nothing to do
	if len(tr.parts) != 1 || len(tr.window) != 1 {
		t.Fatalf("revoke of an older generation dropped state: %d partitions, %d tokens", len(tr.parts), len(tr.window))
	}
	tr.revoke(1)
	if len(tr.parts) != 0 || len(tr.window) != 0 {
		t.Fatalf("revoke of the current generation kept %d partitions, %d tokens", len(tr.parts), len(tr.window))
	}
	tr.done(tok) // late completion of the ended generation
	if gen, offs := tr.pending(); gen != 0 || offs != nil {
		t.Fatalf("pending after revoke: generation %d offsets %v", gen, offs)
	}
	tr.assign(2, []topicPartition{tp})
	take()
	if _, ok := tr.add(1, kafka.Message{Topic: "events", Partition: 0, Offset: 6}); ok {
		t.Fatal("add from an ended generation accepted")
	}
	<-tr.window
	take()
	tok, _ = tr.add(2, kafka.Message{Topic: "events", Partition: 0, Offset: 6})
	tr.done(tok)
	if gen, offs := tr.pending(); gen != 2 || offs[tp] != 7 {
		t.Fatalf("pending: generation %d offsets %v, want 2 and %v:7", gen, offs, tp)
	}
}

// TestTrackerReaderWentBack: when the reader fetches an offset again (it
// went back), completions of the copies fetched before no longer count:
// only the new copy's completion makes the offset committable.
func TestTrackerReaderWentBack(t *testing.T) {
	tp := topicPartition{"events", 0}
	tr := newTracker(10)
	tr.assign(1, []topicPartition{tp})
	msg := kafka.Message{Topic: "events", Partition: 0, Offset: 5}
	tr.window <- struct{}{}
	old, _ := tr.add(1, msg)
	tr.window <- struct{}{}
	again, _ := tr.add(1, msg) // the same offset once more
	tr.done(old)
	if _, offs := tr.pending(); offs != nil {
		t.Fatalf("the stale copy's completion made %v committable", offs)
	}
	tr.done(again)
	if _, offs := tr.pending(); offs[tp] != 6 {
		t.Fatalf("pending %v, want %v:6", offs, tp)
	}
	if len(tr.window) != 0 {
		t.Fatalf("%d window tokens still held", len(tr.window))
	}
}

// TestTrackerFailedCommit: a failed commit makes its offsets pending again,
// unless the generation ended or the partition advanced meanwhile.
func TestTrackerFailedCommit(t *testing.T) {
	tp := topicPartition{"events", 0}
	tr := newTracker(10)
	tr.assign(3, []topicPartition{tp})
	finish := func(off int64) {
		tr.window <- struct{}{}
		tok, _ := tr.add(3, kafka.Message{Topic: "events", Partition: 0, Offset: off})
		tr.done(tok)
	}
	finish(0)
	gen, offs := tr.pending()
	if gen != 3 || offs[tp] != 1 {
		t.Fatalf("pending %d %v", gen, offs)
	}
	tr.failed(2, offs) // another generation's failure: ignored
	if _, again := tr.pending(); again != nil {
		t.Fatalf("failure of another generation re-queued %v", again)
	}
	tr.failed(3, offs)
	if _, again := tr.pending(); again[tp] != 1 {
		t.Fatalf("after a failed commit, pending %v, want %v:1 again", again, tp)
	}
	_, offs = tr.pending() // nothing: it was handed out above
	finish(1)
	_, newer := tr.pending()
	tr.failed(3, map[topicPartition]int64{tp: 1}) // an older commit failed after a newer one was handed out
	if _, again := tr.pending(); again != nil {
		t.Fatalf("an outdated failure re-queued %v (newer %v, %v)", again, newer, offs)
	}
	tr.revoke(3)
	tr.failed(3, newer)
	if _, again := tr.pending(); again != nil {
		t.Fatalf("failure after the generation ended re-queued %v", again)
	}
}
