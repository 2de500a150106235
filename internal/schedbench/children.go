package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/segmentio/stats/v4"
)

// childMain runs one variant with the configuration its environment gives and prints a
// childReport on stdout.
func childMain(variant string, stdout io.Writer) int {
	rep, err := child(variant)
	if err != nil {
		rep.Err = err.Error()
	}
	_ = json.NewEncoder(stdout).Encode(rep)
	if err != nil {
		return 1
	}
	return 0
}

func child(variant string) (childReport, error) {
	var c config
	_, err := fmt.Sscan(os.Getenv("SCHEDBENCH_CASES"), &c.cases)
	if err == nil {
		c.period, err = time.ParseDuration(os.Getenv("SCHEDBENCH_PERIOD"))
	}
	if err == nil {
		c.duration, err = time.ParseDuration(os.Getenv("SCHEDBENCH_DURATION"))
	}
	if err != nil {
		return childReport{}, fmt.Errorf("configuration: %w", err)
	}
	switch variant {
	case "orbital":
		return runOrbital(c)
	case "ticker":
		return runTicker(c), nil
	case "original":
		return runOriginal(c), nil
	}
	return childReport{}, fmt.Errorf("unknown variant %q", variant)
}

// selfCPU is this process's user plus system time so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// noop is the test every variant runs.
//
//go:noinline
func noop() {}

// countResults is a Reporter counting completed runs.
type countResults struct{ n atomic.Int64 }

func (c *countResults) Report(orbital.Result) { c.n.Add(1) }

// sink is where the runs' output and log lines go in every variant: a writer that takes the
// bytes and drops them, so the figures are the programs' own work (formatting included), not
// the kernel's write(2) on a terminal or a file.
var sink io.Writer = discard{}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// statsHandler is the metrics backend of every variant: stats.Discard (the measures are built
// and handed over), or orbital/metrics' Prometheus handler with -metrics prometheus.
func statsHandler() stats.Handler {
	if os.Getenv("SCHEDBENCH_METRICS") == "prometheus" {
		return metrics.NewHandler()
	}
	return stats.Discard
}

// runOrbital runs orbital's Service with its defaults (start spread, timeout) and a JSON
// slog handler at Info on the sink (so every run's "run finished" line is formatted), its
// output on the sink, a reporter counting results.
func runOrbital(c config) (childReport, error) {
	done := &countResults{}
	eng := stats.NewEngine("orbital", statsHandler())
	svc := orbital.New(orbital.WithStats(eng), orbital.WithReporter(done),
		orbital.WithOutput(sink), orbital.WithLogger(slog.New(slog.NewJSONHandler(sink, nil))))
	for i := range c.cases {
		err := svc.Register(orbital.TestCase{Name: fmt.Sprintf("noop-%05d", i), Period: c.period,
			Func: func(context.Context, *orbital.O) { noop() }})
		if err != nil {
			return childReport{}, err
		}
	}
	setup := selfCPU()
	if f := os.Getenv("SCHEDBENCH_CPUPROFILE"); f != "" {
		stop, err := startProfile(f)
		if err != nil {
			return childReport{}, err
		}
		defer stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	if err := svc.Run(ctx); err != nil {
		return childReport{}, err
	}
	return childReport{Runs: done.n.Load(), SetupMS: setup}, nil
}

// runTicker is the limit: one goroutine per case with a time.Ticker, calling a no-op on every
// tick; first ticks spread over a period as orbital's are.
func runTicker(c config) childReport {
	var runs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range c.cases {
		offset := rand.N(c.period)
		wg.Go(func() {
			select {
			case <-time.After(offset):
			case <-stop:
				return
			}
			t := time.NewTicker(c.period)
			defer t.Stop()
			for {
				noop()
				runs.Add(1)
				select {
				case <-t.C:
				case <-stop:
					return
				}
			}
		})
	}
	setup := selfCPU()
	time.Sleep(c.duration) // the measured window
	close(stop)
	wg.Wait()
	return childReport{Runs: runs.Load(), SetupMS: setup}
}

// startProfile starts a CPU profile into file; the function returned stops it.
func startProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	runtime.SetCPUProfileRate(1000) // 1 kHz: enough samples in a short run (pprof then warns, harmlessly)
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
