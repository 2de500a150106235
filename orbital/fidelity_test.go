package orbital_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helper called in the test function itself: lines name the test
// function's line (top level) or the parent's Run line (subtest), as with
// testing.T; never orbital's own code.
func TestHelperInTheTestFunction(t *testing.T) {
	f := newFixture(t)
	var logLine, runLine int
	f.register(t, orbital.TestCase{Name: "h", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		o.Helper()
		_, _, logLine, _ = runtime.Caller(0)
		o.Log("top")
		_, _, runLine, _ = runtime.Caller(0)
		o.Run("sub", func(_ context.Context, o *orbital.O) {
			o.Helper()
			o.Log("in sub")
		})
	}})
	res := f.svc.RunOnce(context.Background(), nil)
	top := res[0]
	for _, want := range []string{
		fmt.Sprintf("fidelity_test.go:%d: top", logLine+1),
		fmt.Sprintf("fidelity_test.go:%d: in sub", runLine+1),
	} {
		if !strings.Contains(top.Output, want) {
			t.Errorf("Output lacks %q:\n%s", want, top.Output)
		}
	}
	if strings.Contains(top.Output, "run.go:") || strings.Contains(top.Output, "o.go:") {
		t.Errorf("Output names orbital's own code:\n%s", top.Output)
	}
}

// Sibling subtests with one name are told apart as go test does.
func TestDuplicateSubtestNames(t *testing.T) {
	f := newFixture(t)
	var names []string
	f.register(t, orbital.TestCase{Name: "d", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		// A "#" a user writes is not a name byte: "a#01" becomes "a_01".
		for _, n := range []string{"a", "a", "a", "b", "a#01", "a b", "a_b"} {
			o.Run(n, func(_ context.Context, o *orbital.O) { names = append(names, o.Name()) })
		}
	}})
	results := f.svc.RunOnce(context.Background(), nil)
	want := []string{"d/a", "d/a#01", "d/a#02", "d/b", "d/a_01", "d/a_b", "d/a_b#01"}
	if !slices.Equal(names, want) {
		t.Errorf("subtest names %v, want %v", names, want)
	}
	var cases []string
	for _, r := range results[1:] {
		cases = append(cases, r.Case)
	}
	if !slices.Equal(cases, want) {
		t.Errorf("result cases %v, want %v", cases, want)
	}
	// Each run of the parent starts afresh.
	names = nil
	f.svc.RunOnce(context.Background(), nil)
	if names[1] != "d/a#01" {
		t.Errorf("second run's names %v", names)
	}
}

// A testify failure's Result.Error leads with what went wrong; the output
// keeps testify's block with its Error Trace.
func TestTestifyFailureLeadsWithTheMessage(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "eq", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		require.Equal(o, 200, 502, "status of POST /v1/track")
	}})
	f.register(t, orbital.TestCase{Name: "nilerr", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		assert.NoError(o, errors.New("dial tcp: connection refused"))
	}})
	got := map[string]orbital.Result{}
	for _, r := range f.svc.RunOnce(context.Background(), nil) {
		got[r.Case] = r
	}
	eq := got["eq"]
	if eq.Outcome != orbital.Fail || !strings.HasPrefix(eq.Error, "Not equal: \nexpected: 200\nactual  : 502") {
		t.Errorf("eq: Outcome %q, Error does not lead with the message:\n%s", eq.Outcome, eq.Error)
	}
	if !strings.Contains(eq.Error, "\nMessages: status of POST /v1/track") || !strings.Contains(eq.Error, "\nError Trace: ") ||
		!strings.Contains(eq.Error, "fidelity_test.go:") {
		t.Errorf("eq: Error lacks the messages or the trace after the message:\n%s", eq.Error)
	}
	if !strings.Contains(eq.Output, "Error Trace:") || !strings.Contains(eq.Output, "Error:") {
		t.Errorf("eq: Output lost testify's block:\n%s", eq.Output)
	}
	if ne := got["nilerr"]; !strings.HasPrefix(ne.Error, "Received unexpected error:\ndial tcp: connection refused") {
		t.Errorf("nilerr: Error does not lead with the message:\n%s", ne.Error)
	}
	// Other messages are left alone.
	plain := runOne(t, newFixture(t), "plain", func(_ context.Context, o *orbital.O) { o.Errorf("\n\tindented: %d", 1) })
	if plain.Error != "\n\tindented: 1" {
		t.Errorf("plain Error = %q", plain.Error)
	}
}

// TempDir: a fresh directory per call, usable in cleanups, removed after
// them; a subtest's are its own.
func TestTempDir(t *testing.T) {
	f := newFixture(t)
	var dirs, subDirs []string
	cleanupSaw := false
	res := runOne(t, f, "tmp.x", func(_ context.Context, o *orbital.O) {
		a, b := o.TempDir(), o.TempDir()
		dirs = append(dirs, a, b)
		if err := os.WriteFile(filepath.Join(a, "f"), []byte("x"), 0o600); err != nil {
			o.Fatal(err)
		}
		// Registered first, so it runs last: the directory is still there.
		o.Cleanup(func() {
			_, err := os.Stat(filepath.Join(a, "f"))
			cleanupSaw = err == nil
		})
		o.Run("sub", func(_ context.Context, o *orbital.O) { subDirs = append(subDirs, o.TempDir()) })
		for _, d := range subDirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				o.Errorf("the subtest's TempDir %s outlived the subtest: %v", d, err)
			}
		}
	})
	if res.Outcome != orbital.Pass {
		t.Fatalf("Outcome %q: %s\n%s", res.Outcome, res.Error, res.Output)
	}
	if dirs[0] == dirs[1] {
		t.Errorf("two calls gave one directory %s", dirs[0])
	}
	if !cleanupSaw {
		t.Error("a cleanup could not use the TempDir")
	}
	for _, d := range append(dirs, filepath.Dir(dirs[0])) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after the run: %v", d, err)
		}
	}
}
