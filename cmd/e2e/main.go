// Command e2e is orbital's perpetual end-to-end test service for event pipelines, and the
// same binary as a CI release gate.
//
//	e2e serve   run every registered case on its period until SIGTERM, then drain (default)
//	e2e gate    run the selected cases once, concurrently; exit 0 all passed, 1 any failed, 2 usage error
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
	"syscall"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/logging"
)

// Exit codes.
const (
	exitOK    = 0 // success; for gate, every selected case passed or skipped
	exitFail  = 1 // a gate case failed, or a runtime error
	exitUsage = 2 // usage or configuration error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
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
		case "serve", "gate", "load", "list", "version":
			name, args = args[0], args[1:]
		case "help", "-h", "-help", "--help":
			a.printHelp(a.stdout, args[1:])
			return exitOK
		default:
			if len(args[0]) > 0 && args[0][0] != '-' {
				fmt.Fprintf(a.stderr, "e2e: unknown command %q (commands: serve, gate, load, list, version)\nRun 'e2e --help' for usage.\n", args[0])
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
