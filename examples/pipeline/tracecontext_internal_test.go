package pipeline

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// The examples are those of the W3C Trace Context recommendation and its test suite
// (w3c/trace-context test/test.py).
func TestParseTraceparent(t *testing.T) {
	const tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	valid := []struct{ in, flags string }{
		{"00-" + tid + "-" + pid + "-01", "01"},
		{"00-" + tid + "-" + pid + "-00", "00"},
		{"00-" + tid + "-" + pid + "-09", "09"}, // unknown flags are kept
		{"cc-" + tid + "-" + pid + "-01", "01"}, // a future version: its first four fields
		{"cc-" + tid + "-" + pid + "-01-what-the-future-will-be-like", "01"},
	}
	for _, tt := range valid {
		tc, ok := parseTraceparent(tt.in)
		if !ok || tc.traceID != tid || tc.parentID != pid || tc.flags != tt.flags {
			t.Errorf("parseTraceparent(%q) = %+v, %v; want %s %s %s", tt.in, tc, ok, tid, pid, tt.flags)
		}
		if got := tc.traceparent(); got != "00-"+tid+"-"+pid+"-"+tt.flags {
			t.Errorf("traceparent() of %q = %q, want version 00", tt.in, got)
		}
	}
	invalid := []string{
		"",
		"00",
		"00-" + tid + "-" + pid + "-0",
		"00-" + tid + "-" + pid + "-01-",  // version 00 has nothing after the flags
		"00-" + tid + "-" + pid + "-01x",  // nor anything else
		"cc-" + tid + "-" + pid + "-01.x", // a future version's fields are separated by "-"
		"ff-" + tid + "-" + pid + "-01",   // version ff is invalid
		"0x-" + tid + "-" + pid + "-01",
		"00-" + strings.ToUpper(tid) + "-" + pid + "-01", // hex is lowercase
		"00-" + tid + "-" + strings.ToUpper("00f067aa0ba902bB") + "-01",
		"00-" + tid + "-" + pid + "-0A",
		"00-00000000000000000000000000000000-" + pid + "-01", // all-zero ids
		"00-" + tid + "-0000000000000000-01",
		"00-" + tid[:31] + "g-" + pid + "-01",
		"00-" + tid + "-" + pid[:15] + "-01-1",
		"00_" + tid + "_" + pid + "_01",
		" 00-" + tid + "-" + pid + "-01",
	}
	for _, in := range invalid {
		if tc, ok := parseTraceparent(in); ok || tc.valid() {
			t.Errorf("parseTraceparent(%q) = %+v, %v; want invalid", in, tc, ok)
		}
	}
}

func TestTraceFromHeaders(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h := http.Header{}
	h.Add("traceparent", " "+tp+" ") // optional white space around a header value
	h.Add("tracestate", "rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE")
	h.Add("tracestate", "vendor@tenant=x y")
	tc := traceFromHTTP(h)
	if tc.traceparent() != tp || tc.state != "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor@tenant=x y" {
		t.Errorf("traceFromHTTP = %q %q", tc.traceparent(), tc.state)
	}
	back := traceFromKafka(tc.kafkaHeaders())
	if back != tc {
		t.Errorf("Kafka headers read back as %+v, want %+v", back, tc)
	}

	h.Add("traceparent", tp) // two traceparents: which one is meant? neither
	if tc := traceFromHTTP(h); tc.valid() || tc.kafkaHeaders() != nil {
		t.Errorf("two traceparent headers gave %+v", tc)
	}
	if tc := traceFromKafka([]kafka.Header{{Key: "tracestate", Value: []byte("a=b")}}); tc.valid() || tc.state != "" {
		t.Errorf("a tracestate without traceparent gave %+v", tc)
	}
	none := http.Header{}
	traceContext{}.setHTTP(none)
	if len(none) != 0 {
		t.Errorf("no trace context set headers %v", none)
	}
}

func TestChildSpan(t *testing.T) {
	tc, _ := parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	tc.state = "a=b"
	seen := map[string]bool{tc.parentID: true}
	for range 100 {
		c := tc.child()
		back, ok := parseTraceparent(c.traceparent())
		if !ok || back.traceID != tc.traceID || back.flags != tc.flags || c.state != tc.state {
			t.Fatalf("child %q (%+v) is not in the parent's trace", c.traceparent(), c)
		}
		if seen[c.parentID] {
			t.Fatalf("span id %s repeated", c.parentID)
		}
		seen[c.parentID] = true
	}
}

func TestCleanTracestate(t *testing.T) {
	member := func(k string, n int) string { return k + "=" + strings.Repeat("v", n) }
	var many []string
	for i := range 33 {
		many = append(many, member("k"+strconv.Itoa(i), 1)) // 32 of them: 182 bytes
	}
	var long []string // 20 members of 40 bytes: 819 bytes in all
	for i := range 20 {
		long = append(long, member(string(rune('a'+i)), 38))
	}
	big := member("big", 200)
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"none", nil, ""},
		{"empty members dropped", []string{" , a=1 ,,b=2 ", "", "c=3"}, "a=1,b=2,c=3"},
		{"multi-tenant key", []string{"t61@dt=x,0tenant@sys=y"}, "t61@dt=x,0tenant@sys=y"},
		{"uppercase key", []string{"a=1,Rojo=2"}, ""},
		{"no value", []string{"a=1,b="}, ""},
		{"no =", []string{"a"}, ""},
		{"= in value", []string{"a=b=c"}, ""},
		{"control character", []string{"a=b\x01"}, ""},
		{"two @", []string{"a@b@c=1"}, ""},
		{"more than 32 members", []string{strings.Join(many, ",")}, ""},
		{"32 members", []string{strings.Join(many[:32], ",")}, strings.Join(many[:32], ",")},
		{"above 512 bytes: members from the end", []string{strings.Join(long, ",")}, strings.Join(long[:12], ",")},
		{"above 512 bytes: big members first", []string{strings.Join(append([]string{big}, long[:12]...), ",")}, strings.Join(long[:12], ",")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cleanTracestate(tt.in)
			if got != tt.want {
				t.Errorf("cleanTracestate(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > maxTracestateBytes {
				t.Errorf("%d bytes kept, more than %d", len(got), maxTracestateBytes)
			}
		})
	}
}

// FuzzTraceparent checks that parsing never panics, that what it accepts formats as a valid
// version-00 traceparent of the same trace, and that a cleaned tracestate stays in bounds.
func FuzzTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "a=b,,c=d")
	f.Add("00-0", "=")
	f.Fuzz(func(t *testing.T, tp, ts string) {
		tc, ok := parseTraceparent(tp)
		if ok {
			back, ok := parseTraceparent(tc.traceparent())
			if !ok || back != tc || len(tc.traceparent()) != 55 {
				t.Fatalf("%q parses to %+v, which formats as %q", tp, tc, tc.traceparent())
			}
		}
		if s := cleanTracestate([]string{ts}); len(s) > maxTracestateBytes || cleanTracestate([]string{s}) != s {
			t.Fatalf("cleanTracestate(%q) = %q: too long or not stable", ts, s)
		}
	})
}
