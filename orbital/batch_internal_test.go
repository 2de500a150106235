package orbital

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"
)

// resultsByCase is a Reporter handing each result to a channel per case.
type resultsByCase struct {
	mu sync.Mutex
	ch map[string]chan Result
}

func (r *resultsByCase) of(name string) chan Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch[name] == nil {
		r.ch[name] = make(chan Result, 10)
	}
	return r.ch[name]
}

func (r *resultsByCase) Report(res Result) { r.of(res.Case) <- res }

// TestBatchDoesNotWaitForABlockedRun hands runs to a worker as one batch, the way the
// scheduler does on one wake, with a run that blocks and one that ends its goroutine with
// runtime.Goexit (FailNow) in it: the runs behind either start, each on a goroutine of its
// own, once the batch was handed out handoffAfter ago, and every run is reported.
func TestBatchDoesNotWaitForABlockedRun(t *testing.T) {
	for _, order := range [][]string{
		{"blocks", "fails-now", "a", "b", "c"},
		{"fails-now", "a", "b", "blocks", "c"},
	} {
		t.Run(order[0], func(t *testing.T) {
			results := &resultsByCase{ch: map[string]chan Result{}}
			s := New(WithOutput(io.Discard), WithLogger(slog.New(slog.DiscardHandler)), WithReporter(results))
			release := make(chan struct{})
			funcs := map[string]TestFunc{
				"blocks": func(ctx context.Context, o *O) { <-release },
				"fails-now": func(ctx context.Context, o *O) {
					o.FailNow()
				},
			}
			set, now := dispatchBatch(t, s, order, funcs, time.Hour)
			if again, _ := set.spread(now); !again.Equal(now.Add(handoffAfter)) {
				t.Fatalf("spread at once: look again at +%v, want +%v", again.Sub(now), handoffAfter)
			}
			if again, _ := set.spread(now.Add(handoffAfter)); !again.IsZero() {
				t.Fatalf("spread after handoffAfter left a batch pending (look again at %v)", again)
			}
			deadline := time.After(10 * time.Second)
			for _, name := range order {
				if name == "blocks" {
					continue
				}
				select {
				case res := <-results.of(name):
					if want := map[bool]Outcome{true: Fail, false: Pass}[name == "fails-now"]; res.Outcome != want {
						t.Errorf("%s: outcome %q, want %q", name, res.Outcome, want)
					}
				case <-deadline:
					t.Fatalf("%s was not reported while %q blocks its batch", name, "blocks")
				}
			}
			close(release)
			select {
			case <-results.of("blocks"):
			case <-deadline:
				t.Fatal("the blocked run was not reported once released")
			}
			set.wg.Wait()
			set.close()
		})
	}
}

// TestBatchGoesOnAfterGoexit hands a worker one batch whose runs end their goroutine with
// FailNow and runtime.Goexit, and never spreads it (the scheduler's wake, handoffAfter later,
// is not needed): the runs after them start at once all the same, on another worker, and every
// run is reported.
func TestBatchGoesOnAfterGoexit(t *testing.T) {
	results := &resultsByCase{ch: map[string]chan Result{}}
	s := New(WithOutput(io.Discard), WithLogger(slog.New(slog.DiscardHandler)), WithReporter(results))
	order := []string{"fails-now", "a", "goexit", "b"}
	funcs := map[string]TestFunc{
		"fails-now": func(ctx context.Context, o *O) { o.FailNow() },
		"goexit":    func(ctx context.Context, o *O) { runtime.Goexit() },
	}
	set, _ := dispatchBatch(t, s, order, funcs, time.Hour) // and no spread
	deadline := time.After(10 * time.Second)
	for _, name := range order {
		select {
		case <-results.of(name):
		case <-deadline:
			t.Fatalf("%s was not reported: the batch stopped at a run that ended its goroutine", name)
		}
	}
	set.wg.Wait()
	set.close()
}

// dispatchBatch registers the cases named in order with period (the test funcs given, no-ops
// for the others) and hands one run of each to a worker as one batch, as the scheduler does on
// a wake at the returned time.
func dispatchBatch(t *testing.T, s *Service, order []string, funcs map[string]TestFunc, period time.Duration) (*runSet, time.Time) {
	t.Helper()
	for _, name := range order {
		f := funcs[name]
		if f == nil {
			f = func(context.Context, *O) {}
		}
		if err := s.Register(TestCase{Name: name, Period: period, Func: f}); err != nil {
			t.Fatal(err)
		}
	}
	set := newRunSet(s, context.Background())
	now := time.Now()
	for _, name := range order {
		cs := s.cases[name]
		cs.busy.Store(true)
		set.start(s.newScheduledO(cs, set.parent, now), cs.tc.Func)
	}
	set.dispatch(now)
	return set, now
}

// TestBatchOfShortPeriodsSpreadsSooner: the runs of a batch of 20ms cases wait behind a
// blocked one for their slack (a 20th of the period, 1ms), not the 5ms of longer periods.
func TestBatchOfShortPeriodsSpreadsSooner(t *testing.T) {
	s := New(WithOutput(io.Discard), WithLogger(slog.New(slog.DiscardHandler)))
	release := make(chan struct{})
	set, now := dispatchBatch(t, s, []string{"blocks", "a"},
		map[string]TestFunc{"blocks": func(context.Context, *O) { <-release }}, 20*time.Millisecond)
	want := slackOf(20 * time.Millisecond)
	if again, slack := set.spread(now); !again.Equal(now.Add(want)) || slack != want {
		t.Errorf("look again at +%v with slack %v, want +%v and %v", again.Sub(now), slack, want, want)
	}
	close(release)
	_, _ = set.spread(time.Time{})
	set.wg.Wait()
	set.close()
}
