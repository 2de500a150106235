// Command e2e is orbital's perpetual end-to-end test service for event pipelines, and the
// same binary as a CI release gate.
//
//	e2e serve   run every registered case on its period until SIGTERM, then drain (default)
//	e2e gate    run the selected cases once, concurrently; exit 0 all passed, 1 any failed, 3 inconclusive, 2 usage error
//	            (--server URL: on a running service; --server URL --since D: judge its history instead)
//	e2e load    serve under a load of traced events at --rate for --duration, every event accounted for
//	e2e list    print the registered cases with their period and timeout
//	e2e version print the build version
//
// With no --api, serve and gate start an in-process Kafka broker and the example pipeline,
// wired to their own /webhook (the embedded default), so `make run` works with nothing
// installed. Every flag also reads the environment variable ORBITAL_<FLAG> (upper case, '-'
// becomes '_'); a flag on the command line wins. Run `e2e --help` for every flag.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/e2e"
	"github.com/orbital-e2e/orbital/internal/logging"
	"github.com/orbital-e2e/orbital/internal/output"
)

// Exit codes.
const (
	exitOK           = 0 // success; for gate, every selected case passed or skipped
	exitFail         = 1 // a gate case failed, or a runtime error
	exitUsage        = 2 // usage or configuration error
	exitInconclusive = 3 // gate: no case failed, but some were inconclusive (or it was interrupted)
	// A second SIGTERM or SIGINT during the drain exits at once with 128 + the signal's
	// number (143 for SIGTERM, 130 for SIGINT), the runs in flight reported as cut short.
	exitSignalBase = 128
)

// Bounds of the process's exit.
const (
	forcedExitGrace = 3 * time.Second // after a second signal: cut-short runs get reported
	flushGrace      = 2 * time.Second // what stdout and stderr still buffer at exit
)

func main() {
	// A closed stdout (e2e gate --junit r.xml | head -n 1) must not kill the process with
	// SIGPIPE: writes fail instead, and the reports and the exit code are still right.
	signal.Ignore(syscall.SIGPIPE)
	max, _ := strconv.Atoi(os.Getenv("ORBITAL_OUTPUT_BUFFER_BYTES")) // default (0): 1 MiB
	stderr := output.NewWriter(os.Stderr, output.Config{Name: "stderr", MaxBuffered: max})
	stdout := output.NewWriter(os.Stdout, output.Config{Name: "stdout", MaxBuffered: max, OnDrop: func(name string, n int64) {
		fmt.Fprintf(stderr, "e2e: %s is not being read: output dropped from now on (%d bytes so far; counted in orbital_output_dropped_bytes_total)\n", name, n)
	}})
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv, streams: []*output.Writer{stdout, stderr}}
	code := a.runWithSignals(os.Args[1:])
	ctx, cancel := context.WithTimeout(context.Background(), flushGrace)
	_ = stdout.Close(ctx)
	_ = stderr.Close(ctx)
	cancel()
	os.Exit(code)
}

// runWithSignals runs the command until it ends: the first SIGTERM or SIGINT cancels its
// context (serve drains), a second one cuts the runs in flight short and exits at once.
func (a *app) runWithSignals(args []string) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, args) }()
	select {
	case code := <-done:
		return code
	case <-sigs:
		cancel()
	}
	select {
	case code := <-done:
		return code
	case sig := <-sigs:
		fmt.Fprintf(a.stderr, "e2e: second %s during the drain: stopping now, runs in flight are cut short\n", sig)
		a.abort()
		select {
		case <-done:
		case <-time.After(forcedExitGrace):
		}
		n := 15
		if s, ok := sig.(syscall.Signal); ok {
			n = int(s)
		}
		return exitSignalBase + n
	}
}

// run is the whole command: it parses args (without the program name), runs the subcommand
// until it finishes or ctx is done, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return a.main(ctx, args)
}

// app is one invocation of the command. Its fields are fixed before main runs.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// listening, when set, is called with the address serve and gate listen on once their
	// HTTP server accepts connections (a test hook; the address is also logged).
	listening func(addr string)
	// embeddedPipeline, when set, is called with the embedded pipeline once it started (a test
	// hook: tests inject faults with SetFaults, as --faults or PUT /admin/faults would).
	embeddedPipeline func(*pipeline.Pipeline)
	// streams are the process's non-blocking stdout and stderr (nil in tests).
	streams []*output.Writer
	// server is the e2e server of the running command, for abort.
	server atomic.Pointer[e2e.Server]
}

// abort cuts the running server's runs in flight short.
func (a *app) abort() {
	if s := a.server.Load(); s != nil {
		s.Abort()
	}
}

// usageError is a usage or configuration error: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func (a *app) main(ctx context.Context, args []string) int {
	name := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "serve", "gate", "load", "list", "broker", "version":
			name, args = args[0], args[1:]
		case "help", "-h", "-help", "--help":
			a.printHelp(a.stdout, args[1:])
			return exitOK
		default:
			if len(args[0]) > 0 && args[0][0] != '-' {
				fmt.Fprintf(a.stderr, "e2e: unknown command %q (commands: serve, gate, load, list, broker, version)\nRun 'e2e --help' for usage.\n", args[0])
				return exitUsage
			}
		}
	}
	cmd := commandByName(name)
	opts, err := a.parse(cmd, args)
	if errors.Is(err, errHelp) {
		printCommandUsage(a.stdout, cmd)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "e2e %s: %v\nRun 'e2e %s --help' for usage.\n", cmd.name, err, cmd.name)
		return exitUsage
	}
	err = cmd.exec(ctx, a, opts)
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(a.stderr, "e2e %s: %v\nRun 'e2e %s --help' for usage.\n", cmd.name, err, cmd.name)
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "e2e %s: %v\n", cmd.name, err)
		return exitFail
	}
}

// exitCode is an error that only carries an exit code; its message was already reported.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// logger builds the process logger on stderr from the options.
func (a *app) logger(o *options) *slog.Logger {
	l, err := logging.New(a.stderr, o.logFormat, o.logLevel, logging.IsTerminal(a.stderr))
	if err != nil { // validated in parse; keep a working logger regardless
		return slog.New(slog.NewJSONHandler(a.stderr, nil))
	}
	return l
}

// version returns the module version of this build and the Go version.
func version() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}

func runVersion(_ context.Context, a *app, _ *options) error {
	fmt.Fprintf(a.stdout, "e2e %s %s %s/%s\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
