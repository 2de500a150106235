package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// runRemoteGate is `e2e gate --server URL`: the selected cases run on the service at URL
// (POST /api/cases/{name}/run, all concurrently), or with --since its history is read
// (GET /api/runs?since=D); either way reported exactly as a local gate reports. Nothing is
// started here. A service that cannot be reached, refuses the token or answers
// unexpectedly is exit 2, never a pass.
func runRemoteGate(ctx context.Context, a *app, o *options) (err error) {
	g := &gate{o: o, start: time.Now()}
	if err := g.openReports(); err != nil {
		return err
	}
	defer g.closeReports(&err)
	g.setOutput(a)
	rc := newRemote(o, g.logger)
	var results []orbital.Result
	if o.since > 0 {
		results, err = g.readWindow(ctx, rc)
	} else {
		results, err = g.runRemote(ctx, rc)
	}
	if err != nil && ctx.Err() == nil {
		g.logger.Error("gate: the service failed", "server", rc.shown, "err", err)
		fmt.Fprintf(a.stderr, "e2e gate: %v\n", err)
		return exitCode(exitUsage)
	}
	return g.finish(ctx, results)
}

// runRemote runs the selected cases --count times each on the service, concurrently, and
// returns the top-level results round by round in case order, as a local gate does.
func (g *gate) runRemote(ctx context.Context, rc *remote) ([]orbital.Result, error) {
	cases, err := rc.cases(ctx, g.o)
	if err != nil {
		return nil, err
	}
	g.top = make(map[string]bool, len(cases))
	for _, c := range cases {
		g.top[c.Name] = true
	}
	g.total = len(cases) * g.o.count
	g.logger.Info("gate starting", "server", rc.shown, "cases", len(cases), "count", g.o.count)
	stopProgress := g.showProgress()
	defer stopProgress()
	rctx, cancel := context.WithCancel(ctx) // the first error of the service stops the rest
	defer cancel()
	per := make([][]orbital.Result, len(cases))
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			for n := 0; n < g.o.count && rctx.Err() == nil; n++ {
				r, err := rc.runCase(rctx, c.Name, g.caseWait(c))
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				g.reportRemote(r)
				per[i] = append(per[i], r)
			}
		})
	}
	wg.Wait()
	var out []orbital.Result
	for n := range g.o.count {
		for _, rs := range per {
			if n < len(rs) {
				out = append(out, rs[n])
			}
		}
	}
	return out, firstErr
}

// caseWait is how long a case may be busy before it runs, and then take: the longer of its
// own timeout, when the service reports one, and --timeout (set it to the service's).
func (g *gate) caseWait(c status.Row) time.Duration {
	d := time.Duration(c.TimeoutSeconds * float64(time.Second))
	return max(d, g.o.cfg.Timeout)
}

// reportRemote reports a result that came from the service as the local Service reports a
// run: its subtests to the reporter first, then its output, then the result itself.
func (g *gate) reportRemote(r orbital.Result) {
	for _, sub := range r.Subtests {
		g.report(sub)
	}
	g.mu.Lock()
	_, _ = io.WriteString(g.text, r.Output)
	g.mu.Unlock()
	g.report(r)
}

// readWindow is `e2e gate --server URL --since D`: every run of the selected cases in the
// window becomes a result; a case whose window is not green without a failed run to show
// for it (no run, or no passing run) gets a failed result giving the reason.
func (g *gate) readWindow(ctx context.Context, rc *remote) ([]orbital.Result, error) {
	win, err := rc.window(ctx, g.o)
	if err != nil {
		return nil, err
	}
	g.top = make(map[string]bool, len(win.Cases))
	var out []orbital.Result
	for _, cw := range win.Cases {
		g.top[cw.Case] = true
		runs := slices.Clone(cw.Runs)
		slices.Reverse(runs) // oldest first, as they ran
		for _, run := range runs {
			out = append(out, resultOf(run, ""))
		}
		if cw.Verdict != string(orbital.Pass) && cw.Failed == 0 {
			out = append(out, gateFailure(cw.Case, cw.Reason))
		}
		if !cw.Complete {
			g.logger.Warn("gate: the window reaches past the runs the service retains (--history)", "case", cw.Case, "runs", len(cw.Runs))
		}
	}
	g.total = len(out)
	g.logger.Info("gate starting", "server", rc.shown, "since", g.o.since, "cases", len(win.Cases), "runs", len(out))
	for _, r := range out {
		g.reportRemote(r)
	}
	return out, nil
}
