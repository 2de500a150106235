package orbital

import (
	"testing"
	"time"
)

// TestAbandonGrace: a tenth of the timeout, at least 500ms, at most 2s.
func TestAbandonGrace(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{100 * time.Millisecond, 500 * time.Millisecond},
		{5 * time.Second, 500 * time.Millisecond},
		{10 * time.Second, time.Second},
		{15 * time.Second, 1500 * time.Millisecond},
		{time.Minute, 2 * time.Second},
		{time.Hour, 2 * time.Second},
	} {
		if got := abandonGrace(tt.timeout); got != tt.want {
			t.Errorf("abandonGrace(%v) = %v, want %v", tt.timeout, got, tt.want)
		}
	}
}

// TestPopDueKeepsPhase: a case due now moves one period on; one whose ticks
// were missed by more than a period (the scheduler lagged) moves to its
// next tick after now, on its original phase, and runs once, not once per
// missed tick.
func TestPopDueKeepsPhase(t *testing.T) {
	const p = 10 * time.Second
	now := time.Unix(1_700_000_000, 0)
	for _, tt := range []struct {
		name       string
		next, want time.Time
	}{
		{"due now", now, now.Add(p)},
		{"a little late", now.Add(-3 * time.Second), now.Add(7 * time.Second)},
		{"three and a half periods late", now.Add(-35 * time.Second), now.Add(5 * time.Second)},
		{"exactly two periods late", now.Add(-2 * p), now.Add(p)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			cs := &caseState{tc: TestCase{Name: "c", Period: p}}
			s.setNext(cs, tt.next)
			s.queue.reset()
			s.queue.push(cs)
			due := s.popDue(nil, now)
			if len(due) != 1 || due[0] != cs {
				t.Fatalf("popDue returned %d cases, want the one due", len(due))
			}
			if !cs.next.Equal(tt.want) {
				t.Fatalf("next run at now%+v, want now%+v", cs.next.Sub(now), tt.want.Sub(now))
			}
			if again := s.popDue(nil, now); len(again) != 0 {
				t.Fatalf("popDue at the same instant again: %d cases due", len(again))
			}
		})
	}
}
