// Command schedbench measures the scheduler's process CPU per completed run: orbital's
// Service with N no-op cases at period P for a duration D, against N bare time.Ticker
// goroutines calling a no-op (the limit) and a model of Segment's original Orbital's run path
// (original.go), each in a child process of its own, alternated in one run (orbital, ticker,
// original, orbital, ticker, original...) for several rounds. A child's CPU is its user plus
// system time as wait4 reports it (getrusage of that child), not wall time; per run is that
// divided by the runs the child completed. Ratios are the median of the rounds' ratios (each
// round's orbital over the same round's ticker or original), so a burst from another process
// spoils one round, not the figure. It prints the machine's load average before and after.
//
//	go run ./internal/schedbench -cases 10000 -period 1s -duration 20s -rounds 5
//
// make bench-sched runs the two configurations of BENCHMARKS.md. It is not part of make test;
// TestSmoke runs it small (100 cases for 1 s) so it cannot rot.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// childEnv names the variant a child process runs; the parent sets it.
const childEnv = "SCHEDBENCH_CHILD"

// variants are the three programs measured, in the order they alternate.
var variants = []string{"orbital", "ticker", "original"}

func main() {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(childMain(v, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is one measured configuration.
type config struct {
	cases    int
	period   time.Duration
	duration time.Duration
	rounds   int
	metrics  string // "discard" or "prometheus"
	profile  string // file for the orbital child's CPU profile; "" for none
}

// childReport is what a child prints on stdout when it is done.
type childReport struct {
	Runs    int64   `json:"runs"`
	SetupMS float64 `json:"setup_cpu_ms"` // CPU of the child before its first tick could come
	Err     string  `json:"error,omitempty"`
}

// sample is one child's measurement.
type sample struct {
	variant string
	runs    int64
	cpu     time.Duration // user + system, from wait4
	setup   time.Duration
}

func (s sample) perRun() float64 {
	if s.runs == 0 {
		return 0
	}
	return float64(s.cpu.Microseconds()) / float64(s.runs)
}

// run is the parent: it parses flags, runs the rounds and prints the figures.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("schedbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.IntVar(&c.cases, "cases", 10000, "no-op cases (ticker goroutines) per child")
	fs.DurationVar(&c.period, "period", time.Second, "period of every case")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long each child runs")
	fs.IntVar(&c.rounds, "rounds", 5, "rounds; each runs every variant once")
	fs.StringVar(&c.metrics, "metrics", "discard", "metrics backend of the orbital and original children: discard or prometheus (orbital/metrics)")
	fs.StringVar(&c.profile, "cpuprofile", "", "write a CPU profile of the orbital children to this file (pprof)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.cases <= 0 || c.period <= 0 || c.duration <= 0 || c.rounds <= 0 || fs.NArg() > 0 ||
		(c.metrics != "discard" && c.metrics != "prometheus") {
		fmt.Fprintln(stderr, "schedbench: -cases, -period, -duration and -rounds must be positive, -metrics discard or prometheus; no arguments")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "schedbench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "schedbench: %d no-op cases @ %s for %s, %d rounds (%s), metrics %s, GOMAXPROCS %d\n",
		c.cases, c.period, c.duration, c.rounds, strings.Join(variants, ", "), c.metrics, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "loadavg before: %s\n", loadavg())
	var samples []sample
	for r := range c.rounds {
		for _, v := range variants {
			s, err := runChild(self, v, c)
			if err != nil {
				fmt.Fprintf(stderr, "schedbench: round %d %s: %v\n", r+1, v, err)
				return 1
			}
			fmt.Fprintf(stdout, "round %d %-8s runs %8d  cpu %8.1f ms  setup %6.1f ms  %6.2f µs/run\n",
				r+1, v, s.runs, float64(s.cpu.Microseconds())/1000, float64(s.setup.Microseconds())/1000, s.perRun())
			samples = append(samples, s)
		}
	}
	fmt.Fprintf(stdout, "loadavg after:  %s\n", loadavg())
	summarize(stdout, samples, c.rounds)
	return 0
}

// runChild runs variant v in a child process and returns its measurement.
func runChild(self, v string, c config) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), childEnv+"="+v,
		fmt.Sprintf("SCHEDBENCH_CASES=%d", c.cases),
		"SCHEDBENCH_PERIOD="+c.period.String(),
		"SCHEDBENCH_DURATION="+c.duration.String(),
		"SCHEDBENCH_METRICS="+c.metrics)
	if v == "orbital" && c.profile != "" {
		cmd.Env = append(cmd.Env, "SCHEDBENCH_CPUPROFILE="+c.profile)
	}
	cmd.Stderr = nil // /dev/null: every variant writes its run output and logs there
	out, err := cmd.Output()
	if err != nil {
		return sample{}, fmt.Errorf("%w (stdout %q)", err, out)
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return sample{}, fmt.Errorf("child report %q: %w", out, err)
	}
	if rep.Err != "" {
		return sample{}, fmt.Errorf("child: %s", rep.Err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, fmt.Errorf("no rusage for the child")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{variant: v, runs: rep.Runs, cpu: cpu, setup: time.Duration(rep.SetupMS * float64(time.Millisecond))}, nil
}

// summarize prints the median CPU per run of every variant and the median ratios.
func summarize(w io.Writer, samples []sample, rounds int) {
	per := map[string][]float64{}
	for _, s := range samples {
		per[s.variant] = append(per[s.variant], s.perRun())
	}
	fmt.Fprintln(w, "median CPU per completed run (µs), min–max over rounds:")
	for _, v := range variants {
		xs := slices.Clone(per[v])
		slices.Sort(xs)
		fmt.Fprintf(w, "  %-8s %6.2f  (%.2f–%.2f)\n", v, median(xs), xs[0], xs[len(xs)-1])
	}
	for _, base := range []string{"ticker", "original"} {
		var ratios []float64
		for r := range rounds {
			if b := per[base][r]; b > 0 {
				ratios = append(ratios, per["orbital"][r]/b)
			}
		}
		slices.Sort(ratios)
		fmt.Fprintf(w, "ratio orbital/%-8s %.2f  (rounds %d, min %.2f max %.2f)\n", base, median(ratios), len(ratios), ratios[0], ratios[len(ratios)-1])
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// loadavg is the first three fields of /proc/loadavg, or why it could not be read.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}
