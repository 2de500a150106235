package pipeline

import (
	"fmt"
	"testing"
)

// TestDedupeWindow: the window remembers exactly the last n ids begun,
// forgetting the oldest first, through many wraps of its ring.
func TestDedupeWindow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint("window ", n), func(t *testing.T) {
			d := newDedupe(n)
			id := func(i int) string { return fmt.Sprintf("id-%d", i) }
			const total = 20
			for i := range total {
				e, first := d.begin(id(i))
				if !first {
					t.Fatalf("begin(%s): a new id reported as a duplicate", id(i))
				}
				d.finish(e)
				// The last n ids, i-n+1..i, are remembered; i-n is not.
				for j := max(0, i-n+1); j <= i; j++ {
					if _, ok := d.ids[id(j)]; !ok {
						t.Fatalf("after %d ids: %s (one of the last %d) forgotten", i+1, id(j), n)
					}
				}
				if len(d.ids) != min(i+1, n) {
					t.Fatalf("after %d ids: %d remembered, want %d", i+1, len(d.ids), min(i+1, n))
				}
			}
			// A duplicate of a remembered id is one; of a forgotten id it is not.
			if _, first := d.begin(id(total - 1)); first {
				t.Errorf("duplicate of the newest id not detected")
			}
			if e, first := d.begin(id(total - 1 - n)); !first {
				t.Errorf("id %s fell out of the window of %d but still counts as seen", id(total-1-n), n)
			} else {
				d.finish(e)
			}
		})
	}
}

// TestDedupeForget: an abandoned id is forgotten at once, so its
// redelivery is processed again; a finished one is not.
func TestDedupeForget(t *testing.T) {
	d := newDedupe(10)
	a, _ := d.begin("a")
	b, _ := d.begin("b")
	d.forget(a)
	d.finish(b)
	if !d.forgotten(a) || d.forgotten(b) {
		t.Fatalf("forgotten: a=%v (abandoned) b=%v (finished)", d.forgotten(a), d.forgotten(b))
	}
	again, first := d.begin("a")
	if !first {
		t.Fatal("redelivery of an abandoned id treated as a duplicate")
	}
	if _, first := d.begin("b"); first {
		t.Fatal("redelivery of a finished id processed again")
	}
	d.finish(again)

	// Abandoning an entry that fell out of the window, after its id was
	// begun again, leaves the id's current entry alone.
	w := newDedupe(1)
	old, _ := w.begin("x")
	w.begin("y") // x falls out of the window
	current, first := w.begin("x")
	if !first {
		t.Fatal("x after it fell out of the window: treated as a duplicate")
	}
	w.forget(old)
	if e, first := w.begin("x"); first || e != current {
		t.Fatal("forgetting a stale entry dropped the id's current one")
	}
}
