package kafkaparts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Progress lets callers wait for readers to reach given offsets. The
// readers call Notify after each message (after storing
// Partition.Processed); it costs one atomic load while nobody waits. The
// zero value is ready to use.
type Progress struct {
	waiters atomic.Int64
	mu      sync.Mutex
	ch      chan struct{} // closed and replaced by Notify while waiters > 0
}

// Notify wakes the callers of Wait, if any. Without any it inlines to one
// atomic load, for the readers' loops.
func (g *Progress) Notify() {
	if g.waiters.Load() != 0 {
		g.wake()
	}
}

func (g *Progress) wake() {
	g.mu.Lock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
	g.mu.Unlock()
}

func (g *Progress) changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

// Wait blocks until the Processed offset of every parts[i] is at least
// ends[i], ctx ends (an error naming the partition behind, prefixed
// "<pkg>: Sync") or done is closed ("<pkg>: Sync: <closed>").
func Wait[P Part](ctx context.Context, g *Progress, done <-chan struct{}, parts []P, ends []int64, pkg, closed string) error {
	g.waiters.Add(1)
	defer g.waiters.Add(-1)
	for i, pp := range parts {
		p := pp.Part()
		for {
			ch := g.changed()
			if p.Processed.Load() >= ends[i] {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: Sync: %s/%d at %d of %d: %w", pkg, p.Topic, p.ID, p.Processed.Load(), ends[i], ctx.Err())
			case <-done:
				return errors.New(pkg + ": Sync: " + closed)
			case <-ch:
			}
		}
	}
	return nil
}
