package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/orbital-e2e/orbital/internal/logging"
	"github.com/orbital-e2e/orbital/internal/output"
	"github.com/orbital-e2e/orbital/internal/report"
	"github.com/orbital-e2e/orbital/orbital"
)

// progressInterval is how often the terminal progress line is redrawn.
const progressInterval = 100 * time.Millisecond

// gate is one `e2e gate`: where its output goes and what it has counted so far.
type gate struct {
	o      *options
	start  time.Time
	text   io.Writer       // go test style output: stdout, or stderr when stdout carries --json
	events *report.JSON    // --json / --json-file events, or nil
	con    *report.Console // the terminal's live status line, or nil
	logger *slog.Logger
	junit  *os.File
	json   *os.File
	top    map[string]bool // the selected top-level cases

	mu    sync.Mutex
	live  report.Tally
	total int
}

// runGate is `e2e gate`: the selected cases once each (--count times), all concurrently.
func runGate(ctx context.Context, a *app, o *options) (err error) {
	g := &gate{o: o, start: time.Now()}
	if err := g.openReports(); err != nil {
		return err
	}
	defer g.closeReports(&err)
	g.setOutput(a)
	cfg := o.cfg
	cfg.Logger, cfg.Output = g.logger, g.text
	srv, err := a.startServer(ctx, cfg, reporterFunc(g.report))
	if err != nil {
		return startError(ctx, o, err)
	}
	defer srv.Close()
	g.top = make(map[string]bool)
	for _, tc := range srv.Cases() {
		g.top[tc.Name] = true
	}
	g.total = len(g.top) * o.count
	a.started(ctx, srv)
	g.logger.Info("gate starting", "config", o, "cases", len(g.top), "count", o.count)
	stopProgress := g.showProgress()
	var results []orbital.Result
	for i := 0; i < o.count && ctx.Err() == nil; i++ {
		for _, r := range srv.Service().RunOnce(ctx, nil) {
			if r.Parent == "" {
				results = append(results, r)
			}
		}
	}
	stopProgress()
	srv.SetDraining()
	return g.finish(ctx, results)
}

// openReports creates the report files first, so that an unwritable path is a usage error
// before anything runs.
func (g *gate) openReports() (err error) {
	if g.o.junit != "" {
		if g.junit, err = os.Create(g.o.junit); err != nil {
			return usagef("--junit: %w", err)
		}
	}
	if g.o.jsonFile != "" {
		if g.json, err = os.Create(g.o.jsonFile); err != nil {
			return usagef("--json-file: %w", err)
		}
	}
	return nil
}

// closeReports closes the report files, setting *err to the first close error if it is nil.
func (g *gate) closeReports(err *error) {
	for _, f := range []*os.File{g.junit, g.json} {
		if f != nil {
			if cerr := f.Close(); cerr != nil && *err == nil {
				*err = fmt.Errorf("close %s: %w", f.Name(), cerr)
			}
		}
	}
}

// setOutput decides where things go: go test style text on stdout (stderr when stdout
// carries --json events); logs on stderr. A terminal stdout gets a live progress line.
func (g *gate) setOutput(a *app) {
	g.text = output.Escape(a.stdout) // run logs carry untrusted text (a pipeline's answers)
	switch {
	case g.o.jsonOut:
		g.text = output.Escape(a.stderr)
		g.events = report.NewJSON(a.stdout)
	case g.json != nil:
		g.events = report.NewJSON(g.json)
	}
	logOut := a.stderr
	if term := g.terminal(a); term != nil {
		g.con = report.NewConsole(term)
		g.text = g.con.Wrap(g.text)
		if logging.IsTerminal(a.stderr) {
			logOut = g.con.Wrap(a.stderr)
		}
	}
	g.logger, _ = logging.New(logOut, g.o.logFormat, g.o.logLevel, logging.IsTerminal(a.stderr))
}

// terminal is the stream the go test style text goes to when it is a terminal, else nil.
func (g *gate) terminal(a *app) io.Writer {
	w := a.stdout
	if g.o.jsonOut {
		w = a.stderr
	}
	if logging.IsTerminal(w) {
		return w
	}
	return nil
}

// report is the gate's reporter: JSON events for every result, progress for top-level ones.
func (g *gate) report(r orbital.Result) {
	g.events.Result(r)
	if r.Parent != "" || !g.top[r.Case] {
		return
	}
	g.mu.Lock()
	g.live.Add(r)
	g.mu.Unlock()
	if g.con != nil {
		g.con.SetStatus(g.progress())
	}
}

func (g *gate) progress() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	incon := ""
	if g.live.Inconclusive > 0 {
		incon = fmt.Sprintf(", %d inconclusive", g.live.Inconclusive)
	}
	return fmt.Sprintf("gate: %d/%d finished, %d failed%s, %s elapsed", g.live.Total(), g.total, g.live.Failed, incon,
		time.Since(g.start).Round(100*time.Millisecond))
}

// showProgress redraws the progress line on a terminal until the returned func is called.
func (g *gate) showProgress() (stop func()) {
	if g.con == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			g.con.SetStatus(g.progress())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		g.con.SetStatus("")
	}
}

// finish writes the closing lines, the JSON end event and the JUnit report, and returns the
// gate's verdict.
func (g *gate) finish(ctx context.Context, results []orbital.Result) error {
	elapsed := time.Since(g.start)
	var sum report.Tally
	for _, r := range results {
		sum.Add(r)
	}
	word, code := gateVerdict(sum, ctx.Err() != nil)
	failed := code == exitFail
	var tail []string
	if g.con != nil { // on a terminal the table shows the failures
		fmt.Fprintln(g.text)
		report.WriteSummaryTable(g.text, results)
		fmt.Fprintln(g.text)
	} else {
		tail = append(tail, report.FailureLines(results)...)
	}
	if ctx.Err() != nil {
		tail = append(tail, fmt.Sprintf("interrupted after %s: %d of %d runs finished", elapsed.Round(time.Millisecond), sum.Total(), g.total))
	}
	tail = append(tail, word, sum.String())
	g.logger.Info("gate finished", "passed", sum.Passed, "failed", sum.Failed, "skipped", sum.Skipped,
		"inconclusive", sum.Inconclusive, "elapsed", elapsed)
	lines := make([]string, len(tail))
	for i, l := range tail {
		fmt.Fprintln(g.text, l)
		lines[i] = l + "\n"
	}
	g.events.End(lines, failed, elapsed)
	if err := g.events.Err(); err != nil {
		return fmt.Errorf("json events: %w", err)
	}
	if g.junit != nil {
		if err := report.WriteJUnit(g.junit, results, g.start, elapsed); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if code != exitOK {
		return exitCode(code)
	}
	return nil
}

// gateVerdict is the gate's closing word and exit status: FAIL (1) when any run failed; else
// INCONCLUSIVE (3) when any was inconclusive or the gate was interrupted before it ran
// everything (no verdict on the release either way); else PASS (0), skips allowed.
func gateVerdict(sum report.Tally, interrupted bool) (word string, code int) {
	switch {
	case sum.Failed > 0:
		return "FAIL", exitFail
	case sum.Inconclusive > 0 || interrupted:
		return "INCONCLUSIVE", exitInconclusive
	}
	return "PASS", exitOK
}

// reporterFunc adapts a function to orbital.Reporter.
type reporterFunc func(orbital.Result)

// Report implements orbital.Reporter.
func (f reporterFunc) Report(r orbital.Result) { f(r) }
