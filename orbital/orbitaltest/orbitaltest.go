// Package orbitaltest runs orbital tests under go test, so the same
// orbital.TestFunc serves a pull request's unit run and the perpetual
// service.
package orbitaltest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// Run runs f once as an orbital test named after t and replays its outcome
// on t: every log line of the run (and of its subtests) goes to t.Log, a
// failure fails t, and a skip skips t (t.SkipNow, so call Run from the test
// goroutine); an inconclusive run, which go test has no word for, skips t
// after logging why it could not conclude. The run's context is t.Context() with t's deadline when t has
// one (10m otherwise). Run is safe to call from parallel tests.
func Run(t testing.TB, f orbital.TestFunc) {
	t.Helper()
	timeout := orbital.DefaultTimeout
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			if left := time.Until(dl); left > 0 {
				timeout = left
			}
		}
	}
	svc := orbital.New(
		orbital.WithTimeout(timeout),
		orbital.WithOutput(io.Discard),
		orbital.WithLogger(slog.New(slog.DiscardHandler)),
	)
	name := orbital.CleanName(t.Name())
	if err := svc.Register(orbital.TestCase{Name: name, Period: time.Hour, Func: f}); err != nil {
		t.Fatalf("orbitaltest: %v", err)
		return
	}
	ctx := context.Background()
	if c, ok := t.(interface{ Context() context.Context }); ok && c.Context() != nil {
		ctx = c.Context()
	}
	results := svc.RunOnce(ctx, nil)
	if len(results) == 0 {
		t.Fatalf("orbitaltest: no result for %s", name)
		return
	}
	res := results[0]
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
