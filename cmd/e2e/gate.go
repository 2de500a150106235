package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbital-e2e/orbital/internal/logging"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
	stats "github.com/segmentio/stats/v4"
)

// progressInterval is how often the terminal progress line is redrawn.
const progressInterval = 100 * time.Millisecond

// runGate is `e2e gate`: the selected cases once each (--count times), all concurrently.
func runGate(ctx context.Context, a *app, o *options) (err error) {
	start := time.Now()

	// Report files first, so that an unwritable path is a usage error before anything runs.
	var junitFile, jsonFile *os.File
	defer func() {
		for _, f := range []*os.File{junitFile, jsonFile} {
			if f != nil {
				if cerr := f.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("close %s: %w", f.Name(), cerr)
				}
			}
		}
	}()
	if o.junit != "" {
		if junitFile, err = os.Create(o.junit); err != nil {
			return usagef("--junit: %w", err)
		}
	}
	if o.jsonFile != "" {
		if jsonFile, err = os.Create(o.jsonFile); err != nil {
			return usagef("--json-file: %w", err)
		}
	}

	// Where things go: go test style text on stdout (stderr when stdout carries --json
	// events); logs on stderr. A terminal stdout gets a live progress line.
	text := a.stdout
	var events *jsonEvents
	switch {
	case o.jsonOut:
		text = a.stderr
		events = newJSONEvents(a.stdout)
	case jsonFile != nil:
		events = newJSONEvents(jsonFile)
	}
	var con *console
	logOut := a.stderr
	textTerm := logging.IsTerminal(text)
	if textTerm {
		con = &console{term: text}
		text = con.wrap(text)
		if logging.IsTerminal(a.stderr) {
			logOut = con.wrap(a.stderr)
		}
	}
	logger, _ := logging.New(logOut, o.logFormat, o.logLevel, logging.IsTerminal(a.stderr))

	ln, err := listen(o.addr)
	if err != nil {
		return err
	}
	sink := newMetricsSink("")
	defer sink.Close()
	eng := stats.NewEngine("orbital", sink.handler)
	var ready, draining atomic.Bool
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))
	var wh atomic.Pointer[webhook.Webhook]
	mux := webhookMux(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := wh.Load(); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}), sink.prom, &ready, &draining)
	srv := httpServer(mux, logger, o.timeout)
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server failed", "err", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-srvDone
	}()
	addr := ln.Addr().String()
	logger.Debug("listening", "addr", addr)
	if a.listening != nil {
		a.listening(addr)
	}

	t, err := newTarget(ctx, o, localURL(ln, "/webhook"), sink.handler, logger)
	if err != nil {
		return err
	}
	defer t.Close(context.Background(), logger)
	wh.Store(webhook.New(webhook.Config{Logger: rl, Secret: t.secret, Scheme: o.sigScheme, Stats: eng})) // issue 14: Scheme

	cases, err := selectCases(o, t.harness(o, rl, logger))
	if err != nil {
		return err
	}
	top := make(map[string]bool, len(cases))
	for _, tc := range cases {
		top[tc.Name] = true
	}
	total := len(cases) * o.count

	var (
		mu   sync.Mutex
		live tally
	)
	progress := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("gate: %d/%d finished, %d failed, %s elapsed", live.total(), total, live.failed,
			time.Since(start).Round(100*time.Millisecond))
	}
	rep := reporterFunc(func(r orbital.Result) {
		events.result(r)
		if top[r.Case] {
			mu.Lock()
			live.add(r)
			mu.Unlock()
			if con != nil {
				con.setStatus(progress())
			}
		}
	})
	svc := orbital.New(
		orbital.WithStats(eng),
		orbital.WithLogger(logger),
		orbital.WithOutput(text),
		orbital.WithTimeout(o.timeout),
		orbital.WithReporter(rep),
	)
	for _, tc := range cases {
		if err := svc.Register(tc); err != nil {
			return usagef("register %s: %w", tc.Name, err)
		}
	}
	ready.Store(true)
	logger.Info("gate starting", "config", o, "cases", len(cases), "count", o.count)

	stopProgress := func() {}
	if con != nil {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(progressInterval)
			defer tick.Stop()
			for {
				con.setStatus(progress())
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		}()
		stopProgress = func() {
			close(done)
			wg.Wait()
			con.setStatus("")
		}
	}

	var results []orbital.Result
	for i := 0; i < o.count && ctx.Err() == nil; i++ {
		for _, r := range svc.RunOnce(ctx, nil) {
			if top[r.Case] {
				results = append(results, r)
			}
		}
	}
	stopProgress()
	draining.Store(true)
	elapsed := time.Since(start)

	var sum tally
	for _, r := range results {
		sum.add(r)
	}
	failed := sum.failed > 0 || ctx.Err() != nil
	var tail []string
	if con != nil {
		fmt.Fprintln(text)
		writeSummaryTable(text, results)
		fmt.Fprintln(text)
	}
	if con == nil { // on a terminal the table shows the failures
		tail = append(tail, failureLines(results)...)
	}
	if ctx.Err() != nil {
		tail = append(tail, fmt.Sprintf("interrupted after %s: %d of %d runs finished", elapsed.Round(time.Millisecond), sum.total(), total))
	}
	if failed {
		tail = append(tail, "FAIL")
	} else {
		tail = append(tail, "PASS")
	}
	tail = append(tail, sum.String())
	logger.Info("gate finished", "passed", sum.passed, "failed", sum.failed, "skipped", sum.skipped, "elapsed", elapsed)
	for _, l := range tail {
		fmt.Fprintln(text, l)
	}
	lines := make([]string, len(tail))
	for i, l := range tail {
		lines[i] = l + "\n"
	}
	events.end(lines, failed, elapsed)
	if err := events.Err(); err != nil {
		return fmt.Errorf("json events: %w", err)
	}
	if junitFile != nil {
		if err := writeJUnit(junitFile, results, start, elapsed); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if failed {
		return exitCode(exitFail)
	}
	return nil
}

// reporterFunc adapts a function to orbital.Reporter.
type reporterFunc func(orbital.Result)

// Report implements orbital.Reporter.
func (f reporterFunc) Report(r orbital.Result) { f(r) }
