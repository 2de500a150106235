// Package orbitaltest runs orbital tests under go test, so the same
// orbital.TestFunc serves a pull request's unit run and the perpetual
// service.
package orbitaltest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// Run runs f once as an orbital test named after t and replays its outcome
// on t: every log line of the run (and of its subtests) goes to t.Log, a
// failure fails t, and a skip skips t (t.SkipNow, so call Run from the test
// goroutine); an inconclusive run, which go test has no word for, skips t
// after logging why it could not conclude. The run's context is t.Context()
// with a timeout of its own: the service default (10m), kept a margin below
// t's deadline when t has one (a tenth of the time left, at least 1s), so a
// test that waits for a lost delivery fails with orbital's message before go
// test's own timeout panics. Run is safe to call from parallel tests.
func Run(t testing.TB, f orbital.TestFunc) {
	t.Helper()
	res, ok := run(t, f, false)
	if !ok {
		return
	}
	for _, line := range bodyLines(res.Output) {
		t.Log(line)
	}
	switch res.Outcome {
	case orbital.Fail:
		t.Fail()
	case orbital.Skip:
		t.SkipNow()
	case orbital.Inconclusive:
		t.Log("orbital: inconclusive: " + res.Error)
		t.SkipNow()
	}
}

// Result runs f once as Run does and returns its Result without failing or
// skipping t, so a test can check what a test function reports (that a check
// of one's own fails when it should). The service's own log lines (the
// "run finished" line, panics) go to t.Log; the run's output is in
// Result.Output and its subtests' results in Result.Subtests.
func Result(t testing.TB, f orbital.TestFunc) orbital.Result {
	t.Helper()
	res, _ := run(t, f, true)
	return res
}

// run runs f once on a service of its own; ok is false when t was failed
// instead (the name could not be registered).
func run(t testing.TB, f orbital.TestFunc, logToT bool) (orbital.Result, bool) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if logToT {
		w := &tWriter{t: t}
		defer w.close() // a goroutine the run abandoned must not log on a finished t
		logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	svc := orbital.New(
		orbital.WithTimeout(runTimeout(t)),
		orbital.WithOutput(io.Discard),
		orbital.WithLogger(logger),
	)
	name := orbital.CleanName(t.Name())
	if err := svc.Register(orbital.TestCase{Name: name, Func: f}); err != nil {
		t.Fatalf("orbitaltest: %v", err)
		return orbital.Result{}, false
	}
	ctx := context.Background()
	if c, ok := t.(interface{ Context() context.Context }); ok && c.Context() != nil {
		ctx = c.Context()
	}
	res, err := svc.RunNow(ctx, name)
	if err != nil {
		t.Fatalf("orbitaltest: %v", err)
		return orbital.Result{}, false
	}
	return res, true
}

// runTimeout is the service default, kept a margin below t's deadline.
func runTimeout(t testing.TB) time.Duration {
	timeout := orbital.DefaultTimeout
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			left := time.Until(dl)
			left -= max(left/10, time.Second)
			timeout = min(timeout, max(left, 10*time.Millisecond))
		}
	}
	return timeout
}

// tWriter writes log lines to t.Log until closed.
type tWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// bodyLines returns the lines under the "--- PASS" header of a go test style
// block, with the header's indentation removed.
func bodyLines(output string) []string {
	lines := strings.Split(strings.TrimSuffix(output, "\n"), "\n")
	if len(lines) <= 1 {
		return nil
	}
	out := make([]string, 0, len(lines)-1)
	for _, l := range lines[1:] {
		out = append(out, strings.TrimPrefix(l, "    "))
	}
	return out
}
