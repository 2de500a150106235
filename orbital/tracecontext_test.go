package orbital_test

import (
	"regexp"
	"testing"

	"github.com/google/uuid"

	"github.com/orbital-e2e/orbital/orbital"
)

// traceparentRE is the version-00 format of W3C Trace Context, section 3.2.
var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)

func TestW3CTraceIDOfAUUIDIsItsHex(t *testing.T) {
	id := "0E0E4736-4BF9-4F35-A3CE-929D0E0E4736"
	if got, want := orbital.W3CTraceID(id), "0e0e47364bf94f35a3ce929d0e0e4736"; got != want {
		t.Fatalf("W3CTraceID(%q) = %q, want %q", id, got, want)
	}
	u := uuid.NewString()
	if got := orbital.W3CTraceID(u); len(got) != 32 || got == orbital.W3CTraceID(uuid.NewString()) {
		t.Fatalf("W3CTraceID(%q) = %q", u, got)
	}
}

func TestW3CTraceIDOfOtherIDs(t *testing.T) {
	for _, id := range []string{"", "run-1", "00000000-0000-0000-0000-000000000000", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"} {
		got := orbital.W3CTraceID(id)
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) || got == "00000000000000000000000000000000" {
			t.Errorf("W3CTraceID(%q) = %q, want 32 hex digits, not all zero", id, got)
		}
		if again := orbital.W3CTraceID(id); again != got {
			t.Errorf("W3CTraceID(%q) not stable: %q then %q", id, got, again)
		}
	}
}

func TestTraceparent(t *testing.T) {
	id := uuid.NewString()
	a, b := orbital.Traceparent(id), orbital.Traceparent(id)
	ma, mb := traceparentRE.FindStringSubmatch(a), traceparentRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		t.Fatalf("Traceparent = %q, %q; want 00-<32 hex>-<16 hex>-01", a, b)
	}
	if ma[1] != orbital.W3CTraceID(id) || mb[1] != ma[1] {
		t.Errorf("trace-ids %s, %s; want %s", ma[1], mb[1], orbital.W3CTraceID(id))
	}
	if ma[2] == mb[2] || ma[2] == "0000000000000000" {
		t.Errorf("span ids %s, %s: want a new non-zero one per call", ma[2], mb[2])
	}
}

func TestTraceLink(t *testing.T) {
	id := "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
	got := orbital.TraceLink("https://tracing.example/trace/{trace_id}?q={trace_id}", id)
	want := "https://tracing.example/trace/4bf92f3577b34da6a3ce929d0e0e4736?q=4bf92f3577b34da6a3ce929d0e0e4736"
	if got != want {
		t.Errorf("TraceLink = %q, want %q", got, want)
	}
	if got := orbital.TraceLink("", id); got != "" {
		t.Errorf("TraceLink with no template = %q, want empty", got)
	}
}
