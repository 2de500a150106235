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
