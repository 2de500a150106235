package orbital

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkQueueMoved is the queue's part of a Reassigned that gains half of 10,000 cases of one
// period (a replica of two left): each is moved to a new time, under the lock the scheduler
// needs to start any run.
func BenchmarkQueueMoved(b *testing.B) {
	s := New()
	now := time.Now()
	var all []*caseState
	s.queue.reset()
	for i := range 10000 {
		cs := &caseState{tc: TestCase{Name: fmt.Sprint("c", i), Period: time.Second}}
		s.setNext(cs, now.Add(time.Duration(i)*100*time.Microsecond))
		s.queue.push(cs)
		all = append(all, cs)
	}
	var gained []*caseState
	for i := 0; i < len(all); i += 2 {
		gained = append(gained, all[i])
	}
	for n := 0; b.Loop(); n++ {
		for i, cs := range gained {
			s.setNext(cs, now.Add(time.Duration((i*7919+n)%10000)*100*time.Microsecond+time.Nanosecond))
		}
		s.queue.moved(gained...)
	}
}
