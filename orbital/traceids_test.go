package orbital_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
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

// TestDefaultTraceIDsAreRandomUUIDs: without WithTraceIDs every run and subtest gets a
// distinct random UUID (version 4, RFC 9562 variant) in canonical form, from generators that
// differ between services.
func TestDefaultTraceIDsAreRandomUUIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 2 { // two services: their generators are seeded apart
		results := make(chanReporter, 1000)
		svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(slog.New(slog.DiscardHandler)),
			orbital.WithReporter(results))
		if err := svc.Register(orbital.TestCase{Name: "c", Func: func(ctx context.Context, o *orbital.O) {
			o.Run("sub", noop)
		}}); err != nil {
			t.Fatal(err)
		}
		for range 200 {
			svc.RunOnce(t.Context(), nil)
		}
		close(results)
		for res := range results {
			id, err := uuid.Parse(res.TraceID)
			switch {
			case err != nil || id.String() != res.TraceID:
				t.Fatalf("trace id %q is not a canonical UUID: %v", res.TraceID, err)
			case id.Version() != 4 || id.Variant() != uuid.RFC4122:
				t.Fatalf("trace id %s: version %d variant %s, want 4 and RFC 9562", id, id.Version(), id.Variant())
			case seen[res.TraceID]:
				t.Fatalf("trace id %s given twice", res.TraceID)
			}
			seen[res.TraceID] = true
		}
	}
	if len(seen) != 800 {
		t.Errorf("%d trace ids, want 800 (2 services x 200 runs x run and subtest)", len(seen))
	}
}
