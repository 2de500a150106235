package orbital

import (
	"fmt"
	"testing"
	"time"
)

// TestNextWakeHonoursEachCasesSlack queues a case of a long period (slack 5ms) due just before
// one of a short period (slack a 20th of its period): the scheduler must wake by the short
// one's due time plus its own slack, not by the long one's plus the long one's slack, or the
// short case starts up to 5ms late on every tick that follows a long case's.
func TestNextWakeHonoursEachCasesSlack(t *testing.T) {
	for _, first := range []time.Duration{time.Second, 20 * time.Millisecond} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			s := New()
			s.queue.reset()
			now := time.Now()
			long := &caseState{tc: TestCase{Name: "long", Period: time.Second}}
			short := &caseState{tc: TestCase{Name: "short", Period: 20 * time.Millisecond}}
			s.setNext(long, now.Add(10*time.Millisecond))
			s.setNext(short, now.Add(11*time.Millisecond))
			if first == short.tc.Period {
				s.queue.push(short)
				s.queue.push(long)
			} else {
				s.queue.push(long)
				s.queue.push(short)
			}
			before := time.Now()
			wait, slack := s.nextWake()
			wakeBy := now.Add(11*time.Millisecond + slackOf(short.tc.Period))
			if latest := before.Add(wait); latest.After(wakeBy) {
				t.Errorf("wakes %v after the short case is due, more than its slack %v",
					latest.Sub(short.next), slackOf(short.tc.Period))
			}
			if slack > slackOf(short.tc.Period) {
				t.Errorf("slack %v, more than the short case's %v", slack, slackOf(short.tc.Period))
			}
		})
	}
}
