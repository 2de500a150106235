package orbital_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// TestWithTraceIDs: every run and subtest is named by the given function.
func TestWithTraceIDs(t *testing.T) {
	var n atomic.Int64
	newID := func() string { return fmt.Sprintf("00000000-0000-8000-8000-%012d", n.Add(1)) }
	svc := orbital.New(orbital.WithTraceIDs(newID), orbital.WithOutput(io.Discard),
		orbital.WithLogger(slog.New(slog.DiscardHandler)))
	var inner string
	if err := svc.Register(orbital.TestCase{Name: "c", Period: time.Minute, Func: func(ctx context.Context, o *orbital.O) {
		o.Run("sub", func(ctx context.Context, o *orbital.O) { inner = o.TraceID() })
	}}); err != nil {
		t.Fatal(err)
	}
	res, err := svc.RunNow(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if res.TraceID != "00000000-0000-8000-8000-000000000001" || inner != "00000000-0000-8000-8000-000000000002" {
		t.Errorf("trace ids: run %q, subtest %q; want the function's first two", res.TraceID, inner)
	}
}
