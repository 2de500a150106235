package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/orbital-e2e/orbital/internal/e2e"
	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/internal/output"
	"github.com/orbital-e2e/orbital/internal/report"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/server"
)

// runServe is `e2e serve`: every case on its period until ctx is done, then a drain.
func runServe(ctx context.Context, a *app, o *options) error {
	srv, err := a.newServer(ctx, o, nil)
	if err != nil {
		return startError(ctx, o, err)
	}
	defer srv.Close()
	if err := srv.Run(a.started(ctx, srv)); errors.Is(err, server.ErrServe) {
		return err
	}
	return nil // an incomplete drain was logged, and its runs reported
}

// newServer builds the e2e server of o for a command, with its logger, output and reporters.
func (a *app) newServer(ctx context.Context, o *options, reporters []orbital.Reporter) (*e2e.Server, error) {
	cfg := o.cfg
	cfg.Logger = a.logger(o)
	cfg.Output = output.Escape(a.stdout) // run logs carry untrusted text (a pipeline's answers)
	return a.startServer(ctx, cfg, reporters...)
}

// startServer builds the e2e server of cfg with what every command adds: the version, the
// test hook, the output streams, the reporters; it is the one a second signal aborts.
func (a *app) startServer(ctx context.Context, cfg e2e.Config, reporters ...orbital.Reporter) (*e2e.Server, error) {
	cfg.Version = version()
	cfg.OnPipeline = a.embeddedPipeline
	cfg.Streams = a.streams
	cfg.Reporters = append(cfg.Reporters, reporters...)
	srv, err := e2e.New(ctx, cfg)
	if err == nil {
		a.server.Store(srv)
	}
	return srv, err
}

// started logs and announces (the listening test hook) that srv is about to serve, and
// returns ctx.
func (a *app) started(ctx context.Context, srv *e2e.Server) context.Context {
	srv.Start()
	if a.listening != nil {
		a.listening(srv.Addr())
	}
	return ctx
}

// startError turns an error of e2e.New into the command's: a configuration error is a usage
// error (exit 2), a stop during start-up a clean exit.
func startError(ctx context.Context, o *options, err error) error {
	var ce *e2e.ConfigError
	switch {
	case errors.As(err, &ce):
		return usageError{ce}
	case ctx.Err() != nil:
		return nil
	}
	return err
}

// runLoad is `e2e load`: serve, with a load generator beside the cases. When its --duration
// is over it stops the service; on SIGTERM it stops sending and accounts for the events in
// flight. The pipeline and the webhook stay up until every event is accounted for.
func runLoad(ctx context.Context, a *app, o *options) error {
	tally := &runTally{}
	srv, err := a.newServer(ctx, o, []orbital.Reporter{tally})
	if err != nil {
		return startError(ctx, o, err)
	}
	defer srv.Close()
	runCtx, stopRun := context.WithCancel(a.started(ctx, srv))
	defer stopRun()
	logger := a.logger(o)
	loadDone := make(chan load.Report, 1)
	go func() {
		rep, err := load.Run(runCtx, load.Config{
			APIURL:          srv.APIURL(),
			WriteKey:        srv.WriteKey(),
			Waiter:          srv.Waiter(),
			Rate:            o.loadRate,
			Duration:        o.loadDuration,
			DeliveryTimeout: o.loadDeliveryTimeout,
			Concurrency:     o.loadConcurrency,
			Logger:          logger.With("component", "load"),
		})
		if err != nil {
			logger.Error("load", "err", err)
		}
		loadDone <- rep
		stopRun()
	}()
	runErr := srv.Run(runCtx)
	srv.SetDraining()
	rep := <-loadDone
	tl := tally.counts()
	incon := ""
	if tl.Inconclusive > 0 {
		incon = fmt.Sprintf(", %d inconclusive", tl.Inconclusive)
	}
	fmt.Fprintf(a.stdout, "load: %s\nruns: %d passed, %d failed, %d skipped%s\n", rep, tl.Passed, tl.Failed, tl.Skipped, incon)
	srv.Close() // the CPU measurement wants the pipeline and the cases stopped
	cpu := loadCPU(ctx, a, o, rep)
	logger.Info("load finished", "sent", rep.Sent, "matched", rep.Matched, "lost", rep.Lost,
		"throughput", rep.Throughput, "p50", rep.P50, "p99", rep.P99,
		"runs_passed", tl.Passed, "runs_failed", tl.Failed, "runs_skipped", tl.Skipped, "runs_inconclusive", tl.Inconclusive,
		"process_cpu_per_event", cpuPerEvent(rep), "cpu_per_event", cpu.Orbital, "bare_cpu_per_event", cpu.Bare, "cpu_ratio", cpu.Ratio)
	if errors.Is(runErr, server.ErrServe) {
		return runErr
	}
	if !rep.OK() || tl.Failed > 0 {
		return exitCode(exitFail)
	}
	return nil
}

// loadCPU measures and prints (line "cpu: ...") the load generator's, webhook's and waiter's
// own process CPU per event against a bare net/http client loop at the load's rate and
// concurrency, after the load (load.MeasureCPU); not after an interrupted load.
func loadCPU(ctx context.Context, a *app, o *options, rep load.Report) load.CPUReport {
	if rep.Interrupted || ctx.Err() != nil {
		fmt.Fprintln(a.stdout, "cpu: not measured (the load was interrupted)")
		return load.CPUReport{}
	}
	cpu, err := load.MeasureCPU(ctx, load.CPUConfig{Rate: o.loadRate, Concurrency: o.loadConcurrency})
	if err != nil {
		fmt.Fprintf(a.stdout, "cpu: not measured (%v)\n", err)
		return load.CPUReport{}
	}
	fmt.Fprintf(a.stdout, "cpu: %s\n", cpu)
	return cpu
}

// cpuPerEvent is the whole process's CPU per event sent during the load.
func cpuPerEvent(rep load.Report) time.Duration {
	if rep.Sent == 0 {
		return 0
	}
	return (rep.CPU / time.Duration(rep.Sent)).Round(100 * time.Nanosecond)
}

// runTally counts the outcomes of top-level runs (e2e load reports them). It is safe for
// concurrent use.
type runTally struct {
	mu sync.Mutex
	t  report.Tally
}

// Report implements orbital.Reporter; subtests are counted in their parent's outcome.
func (r *runTally) Report(res orbital.Result) {
	if res.Parent != "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.Add(res)
}

// counts is a snapshot of the tally.
func (r *runTally) counts() report.Tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.t
}
