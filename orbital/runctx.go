package orbital

import (
	"context"
	"sync"
	"time"
)

// runCtx is the context of a scheduled run, part of its O: a deadline and a cancellation
// without a timer or a cancelCtx of their own. The case's timer (caseState.onTimer) ends it
// at the deadline with context.DeadlineExceeded; the end of the test or a cut ends it with
// context.Canceled, and the O keeps why (O.cause). Its Done channel is made on first use, and
// contexts derived from it (context.WithCancel, WithTimeout...) register through AfterFunc, as
// they do with any context that has one, rather than with a goroutine each.
type runCtx struct {
	parent   context.Context // values only: Run's context without its cancellation
	deadline int64           // monotonic (see monotonic)

	mu     sync.Mutex
	ended  endedBy
	done   chan struct{} // made by the first Done; closed when the context ends
	afters map[*runAfter]struct{}
}

// endedBy is why a runCtx ended, if it has: its Err.
type endedBy uint8

const (
	notEnded endedBy = iota
	endedCanceled
	endedDeadline
)

func (e endedBy) err() error {
	switch e {
	case endedCanceled:
		return context.Canceled
	case endedDeadline:
		return context.DeadlineExceeded
	}
	return nil
}

// runAfter is a function registered with runCtx.AfterFunc.
type runAfter struct{ f func() }

// closedChan is the Done channel of a runCtx that ended before anyone asked for one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *runCtx) Deadline() (time.Time, bool) { return c.deadlineTime(), true }

// deadlineTime is the deadline as a time.Time, with a monotonic clock reading.
func (c *runCtx) deadlineTime() time.Time { return epoch.Add(time.Duration(c.deadline)) }

func (c *runCtx) Value(key any) any { return c.parent.Value(key) }

func (c *runCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended.err()
}

func (c *runCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.ended != notEnded {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

// AfterFunc calls f in its own goroutine once c ends (at once if it has), as context.AfterFunc
// does; stop removes f and reports whether it did so before f was started.
func (c *runCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.ended != notEnded {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &runAfter{f: f}
	if c.afters == nil {
		c.afters = make(map[*runAfter]struct{})
	}
	c.afters[a] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.afters[a]
		delete(c.afters, a)
		return ok
	}
}

// end ends c (with context.Canceled or context.DeadlineExceeded) unless it has ended.
func (c *runCtx) end(by endedBy) {
	c.mu.Lock()
	if c.ended != notEnded {
		c.mu.Unlock()
		return
	}
	c.ended = by
	if c.done != nil {
		close(c.done)
	}
	afters := c.afters
	c.afters = nil
	c.mu.Unlock()
	for a := range afters {
		go a.f()
	}
}

func (c *runCtx) String() string { return "orbital.runContext" }
