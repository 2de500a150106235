package tests_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
)

// tapTopics are the stack pipeline's topics: ingest, dead-letter, output.
var tapTopics = []string{"events", "events-dead-letter", outputTopic}

// tapped returns the stack's Harness with a Kafka tap on its topics.
func (s *stack) tapped(t *testing.T) *tests.Harness {
	t.Helper()
	return s.tappedWith(t, kafkatap.Config{})
}

// tappedWith is tapped with a tap configured by cfg (Brokers and Topics filled in).
func (s *stack) tappedWith(t *testing.T, cfg kafkatap.Config) *tests.Harness {
	t.Helper()
	cfg.Brokers, cfg.Topics = s.broker.Brokers(), tapTopics
	tap, err := kafkatap.New(cfg)
	if err != nil {
		t.Fatalf("kafkatap.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := tap.Start(ctx); err != nil {
		t.Fatalf("tap.Start: %v", err)
	}
	t.Cleanup(func() { _ = tap.Close() })
	h := s.harness()
	h.Tap = tap
	return h
}

// TestTrailLocatesFaults injects each fault of the example pipeline and checks that the
// failure says where the event stopped, from what the tap saw.
func TestTrailLocatesFaults(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.tapped(t)
	for _, tc := range []struct {
		faults, suite string
		want          []string // in Result.Error
	}{
		{faults: "lose=1", suite: "track", want: []string{
			"not delivered within", "the API answered 200 (in ",
			"but the event never reached Kafka (not seen in events, events-dead-letter, events-processed)"}},
		{faults: "drop=1", suite: "track", want: []string{
			"accepted by the API (200 in ", "written to events[", "later, never delivered and not dead-lettered (lost between Kafka and the webhook, or still being retried)"}},
		// The stack's pipeline tries 3 times, a few milliseconds apart.
		{faults: "dest5xx=1", suite: "track", want: []string{
			"written to events[", "never delivered: dead-lettered after 3 attempts (destination answered 503) (in events-dead-letter["}},
		{faults: "drop=1", suite: "kafka", want: []string{"messageId ", ": written to events[", "lost between Kafka and the webhook"}},
		{faults: "lose=1", suite: "batch", want: []string{"20 of 20 batch events not delivered", "never reached Kafka", "; 20 of 20 never reached Kafka"}},
		{faults: "corrupt=1", suite: "track", want: []string{"delivered (attempt 1), but field event differs"}},
	} {
		t.Run(tc.suite+"/"+tc.faults, func(t *testing.T) {
			s.setFaults(t, tc.faults)
			t.Cleanup(func() { s.setFaults(t, "") })
			r := runCases(t, h, 3*time.Second, nil, tc.suite)[tc.suite]
			if r.Outcome != orbital.Fail || r.TimedOut {
				t.Fatalf("with %s: got %s, want a failure that is no timeout", tc.faults, describe(r))
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("Error = %q\nwant it to contain %q", r.Error, w)
				}
			}
		})
	}
}

// TestTrailOfAPassingRun checks the trail line of passing runs and the per-hop latency
// metric: every hop the event passed is in both.
func TestTrailOfAPassingRun(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.tapped(t)
	metrics := &statstest.Handler{}
	results := runCases(t, h, 20*time.Second, stats.NewEngine("orbital", metrics), "track", "kafka", "browser", "analytics-go")
	for _, tc := range []struct {
		suite string
		trail *regexp.Regexp
		hops  []string
	}{
		{"track", regexp.MustCompile(`trail messageId ([0-9a-f-]{36}): api 200 in \d+(\.\d+)?[µm]?s → kafka events\[\d+\]@\d+ \+[^ ]+ → kafka events-processed\[\d+\]@\d+ \+[^ ]+ → delivery attempt 1 \+`),
			[]string{tests.HopAPI, tests.HopKafka, tests.HopDelivery}},
		{"browser", regexp.MustCompile(`trail messageId ([0-9a-f-]{36}): api 200 in [^ ]+ → kafka events\[\d+\]@\d+ \+[^ ]+ → kafka events-processed\[\d+\]@\d+ \+[^ ]+ → delivery attempt 1 \+`),
			[]string{tests.HopAPI, tests.HopKafka, tests.HopDelivery}},
		{"analytics-go", regexp.MustCompile(`trail messageId ([0-9a-f-]{36}): api 200 in [^ ]+ → kafka events\[\d+\]@\d+ \+[^ ]+ → kafka events-processed\[\d+\]@\d+ \+[^ ]+ → delivery attempt 1 \+`),
			[]string{tests.HopAPI, tests.HopKafka, tests.HopDelivery}},
		{"kafka", regexp.MustCompile(`trail messageId ([0-9a-f-]{36}): kafka events\[\d+\]@\d+ \+[^ ]+ → kafka events-processed\[\d+\]@\d+ \+[^ ]+ → delivery attempt 1 \+`),
			[]string{tests.HopKafka, tests.HopDelivery}},
	} {
		r := results[tc.suite]
		if r.Outcome != orbital.Pass {
			t.Fatalf("%s: got %s, want pass", tc.suite, describe(r))
		}
		m := tc.trail.FindStringSubmatch(r.Output)
		if m == nil || m[1] != r.TraceID {
			t.Errorf("%s: no trail line of messageId %s matching %s in:\n%s", tc.suite, r.TraceID, tc.trail, r.Output)
		}
		for _, hop := range tc.hops {
			if !hopObserved(metrics, tc.suite, hop) {
				t.Errorf("%s: orbital.hop.latency_seconds{hop=%s} not observed", tc.suite, hop)
			}
		}
		if hopObserved(metrics, tc.suite, tests.HopDeadLetter) {
			t.Errorf("%s: a dead_letter hop observed for a delivered event", tc.suite)
		}
	}
}

// hopObserved reports whether orbital.hop.latency_seconds was observed with case and hop.
func hopObserved(h *statstest.Handler, caseName, hop string) bool {
	for _, m := range h.Measures() {
		for _, f := range m.Fields {
			if m.Name+"."+f.Name != "orbital.hop.latency_seconds" || f.Type() != stats.Histogram {
				continue
			}
			var c, hp bool
			for _, tag := range m.Tags {
				c = c || (tag.Name == "case" && tag.Value == caseName)
				hp = hp || (tag.Name == "hop" && tag.Value == hop)
			}
			if c && hp {
				return true
			}
		}
	}
	return false
}

// traceparentRE is W3C Trace Context's version-00 traceparent.
var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)

// headerLog records a header (traceparent unless header is set) of every request a handler
// receives, by a key of the request (X-Message-Id, path, method).
type headerLog struct {
	header string // default: traceparent
	mu     sync.Mutex
	seen   map[string][]string
}

func (l *headerLog) wrap(key func(*http.Request) string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		if l.seen == nil {
			l.seen = map[string][]string{}
		}
		name := l.header
		if name == "" {
			name = "traceparent"
		}
		k := key(r)
		l.seen[k] = append(l.seen[k], r.Header.Get(name))
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// all returns everything recorded, by key.
func (l *headerLog) all() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]string, len(l.seen))
	for k, v := range l.seen {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (l *headerLog) get(k string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen[k]...)
}

// TestTraceContextReachesTheDelivery checks that the suites' requests and Kafka messages
// carry a traceparent of the run's trace and that the example pipeline's deliveries continue
// that trace with a span of their own.
func TestTraceContextReachesTheDelivery(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	deliveries, api := &headerLog{}, &headerLog{}
	hook := s.hook.Config.Handler
	s.hook.Config.Handler = deliveries.wrap(func(r *http.Request) string { return r.Header.Get("X-Message-Id") }, hook)
	preflights := &headerLog{header: "Access-Control-Request-Headers"}
	apiHandler := s.api.Config.Handler
	s.api.Config.Handler = preflights.wrap(func(r *http.Request) string { return r.Method },
		api.wrap(func(r *http.Request) string { return r.URL.Path }, apiHandler))

	h := s.harness()
	h.TraceURL = "https://tracing.example/trace/{trace_id}"
	results := runCases(t, h, 20*time.Second, nil, "track", "kafka", "browser")
	for _, name := range []string{"track", "kafka", "browser"} {
		r := results[name]
		if r.Outcome != orbital.Pass {
			t.Fatalf("%s: got %s, want pass", name, describe(r))
		}
		got := deliveries.get(r.TraceID)
		if len(got) == 0 {
			t.Fatalf("%s: no delivery of messageId %s seen", name, r.TraceID)
		}
		m := traceparentRE.FindStringSubmatch(got[0])
		if m == nil || m[1] != orbital.W3CTraceID(r.TraceID) {
			t.Errorf("%s: delivery traceparent %q, want trace-id %s", name, got[0], orbital.W3CTraceID(r.TraceID))
		}
		if name == "browser" {
			// Chromium adds the header beneath the page: the page never asks for it in a
			// CORS preflight, so an API that does not allow it still works.
			for _, asked := range preflights.get("OPTIONS") {
				if strings.Contains(strings.ToLower(asked), "traceparent") {
					t.Errorf("browser: a CORS preflight asked to send traceparent (%q)", asked)
				}
			}
			// analytics.js posts to /v1/t, /v1/p, /v1/i (or /v1/b when it batches).
			var carried bool
			for _, path := range []string{"/v1/t", "/v1/p", "/v1/i", "/v1/b", "/v1/batch", "/v1/track"} {
				for _, tp := range api.get(path) {
					sm := traceparentRE.FindStringSubmatch(tp)
					carried = carried || (sm != nil && sm[1] == orbital.W3CTraceID(r.TraceID))
				}
			}
			if !carried {
				t.Errorf("browser: no request to the API carried the run's traceparent: %v", api.all())
			}
		}
		if name == "track" {
			sent := api.get("/v1/track")
			var mine string
			for _, tp := range sent {
				if sm := traceparentRE.FindStringSubmatch(tp); sm != nil && sm[1] == orbital.W3CTraceID(r.TraceID) {
					mine = sm[2]
				}
			}
			if mine == "" {
				t.Errorf("no POST /v1/track carried the run's traceparent: %q", sent)
			} else if m != nil && m[2] == mine {
				t.Errorf("the delivery's span id %s is the sender's: the pipeline made no span of its own", mine)
			}
		}
	}
}

// TestFailureLinksTheTrace checks Harness.TraceURL in a failed run's message and output.
func TestFailureLinksTheTrace(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.harness()
	h.TraceURL = "https://tracing.example/trace/{trace_id}"
	s.setFaults(t, "drop=1")
	r := runCases(t, h, 2*time.Second, nil, "track")["track"]
	link := "https://tracing.example/trace/" + orbital.W3CTraceID(r.TraceID)
	if r.Outcome != orbital.Fail || !strings.Contains(r.Error, "(trace: "+link+")") {
		t.Errorf("got %s\nwant a failure linking %s", describe(r), link)
	}
	if !strings.Contains(r.Output, "trace: "+link) {
		t.Errorf("output does not link the trace:\n%s", r.Output)
	}
}

// TestHopStrings checks how hops read in a run's output, and that a dead-letter reason
// written by someone else's pipeline shows no URL credentials.
func TestHopStrings(t *testing.T) {
	for _, tc := range []struct {
		hop  tests.Hop
		want string
	}{
		{tests.Hop{Name: tests.HopAPI, Status: 200, Latency: 3 * time.Millisecond}, "api 200 in 3ms"},
		{tests.Hop{Name: tests.HopKafka, Topic: "events", Partition: 2, Offset: 1234, Latency: 4 * time.Millisecond}, "kafka events[2]@1234 +4ms"},
		{tests.Hop{Name: tests.HopDeadLetter, Topic: "events.DLT", Offset: 7, Latency: 12340 * time.Millisecond,
			Headers: map[string]string{"kafka_dlt-exception-message": "POST https://user:hunter2@hooks.example/in?token=t0k: 503"}},
			"dead_letter events.DLT[0]@7 +12.34s (POST https://hooks.example/in: 503)"},
		{tests.Hop{Name: tests.HopDeadLetter, Topic: "dlq", Headers: map[string]string{"Status": "429"}}, "dead_letter dlq[0]@0 +0s (destination answered 429)"},
		{tests.Hop{Name: tests.HopDeadLetter, Topic: "dlq", Headers: map[string]string{
			"error": "boom\n--- PASS: track (0.01s)", "status": "https://u:pw@x.example/?t=1"}},
			"dead_letter dlq[0]@0 +0s (boom --- PASS: track (0.01s))"},
		{tests.Hop{Name: tests.HopDeadLetter, Topic: "dlq", Headers: map[string]string{"status": "https://u:pw@x.example/?t=1"}}, "dead_letter dlq[0]@0 +0s"},
		{tests.Hop{Name: tests.HopDelivery, Attempt: 2, Latency: time.Second}, "delivery attempt 2 +1s"},
		{tests.Hop{Name: tests.HopDelivery, Latency: time.Second}, "delivery +1s"},
	} {
		if got := tc.hop.String(); got != tc.want {
			t.Errorf("%+v: String() = %q, want %q", tc.hop, got, tc.want)
		}
	}
}

// TestTrailWithATapBehind checks that a tap that has not caught up claims nothing: the
// undelivered event fails the run, saying where it stopped is unknown, and the run still
// logs its trail and messageIds in time (it is not abandoned waiting for the tap).
func TestTrailWithATapBehind(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// A fetch returns only with 10 MiB or after 8s: the tap is always behind.
	h := s.tappedWith(t, kafkatap.Config{MinBytes: 10 << 20, MaxWait: 8 * time.Second})
	s.setFaults(t, "drop=1")
	r := runCases(t, h, 3*time.Second, nil, "track")["track"]
	if r.Outcome != orbital.Fail {
		t.Fatalf("got %s, want fail", describe(r))
	}
	for _, w := range []string{"accepted by the API (200 in ", "never delivered; where it stopped is unknown (the Kafka tap had not caught up with events, events-dead-letter, events-processed: "} {
		if !strings.Contains(r.Error, w) {
			t.Errorf("Error = %q\nwant it to contain %q", r.Error, w)
		}
	}
	if strings.Contains(r.Error, "never reached Kafka") {
		t.Errorf("Error = %q: claims what the tap could not see", r.Error)
	}
	for _, w := range []string{"trail messageId " + r.TraceID + ": api 200 in ", "failed run: messageIds " + r.TraceID} {
		if !strings.Contains(r.Output, w) {
			t.Errorf("output lacks %q:\n%s", w, r.Output)
		}
	}
	if strings.Contains(r.Output, "abandoned") {
		t.Errorf("the run was abandoned:\n%s", r.Output)
	}
}

// TestFollowInAUsersOwnTest runs a case written the way a user writes one, with
// Harness.Follow, against the example pipeline losing every event after Kafka: the failure
// says where it stopped and the run's output holds its trail.
func TestFollowInAUsersOwnTest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.tapped(t)
	s.setFaults(t, "drop=1")
	svc := orbital.New(orbital.WithTimeout(4*time.Second), orbital.WithOutput(io.Discard), orbital.WithLogger(quiet()))
	err := svc.Register(orbital.TestCase{Name: "signup", Period: time.Minute, Func: func(ctx context.Context, o *orbital.O) {
		id := o.TraceID()
		tr := h.Follow(o, id)
		start := tr.Sending()
		body := strings.NewReader(`{"type":"track","event":"signup","userId":"u1","messageId":"` + id + `"}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.APIURL+"/v1/track", body)
		if err != nil {
			o.Fatal(err)
		}
		req.SetBasicAuth(h.WriteKey, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			o.Fatal(err)
		}
		resp.Body.Close()
		tr.Answered(start, resp.StatusCode, id)
		if _, err := h.Waiter.WaitFor(ctx, id, 2*time.Second); err != nil {
			o.Fatalf("messageId %s not delivered: %s", id, tr.Where(ctx, id))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rs := svc.RunOnce(t.Context(), nil)
	if len(rs) != 1 || rs[0].Outcome != orbital.Fail {
		t.Fatalf("results %+v, want one failure", rs)
	}
	r := rs[0]
	for _, w := range []string{"accepted by the API (200 in ", "written to events[", "never delivered and not dead-lettered"} {
		if !strings.Contains(r.Error, w) {
			t.Errorf("Error = %q\nwant it to contain %q", r.Error, w)
		}
	}
	if !strings.Contains(r.Output, "trail messageId "+r.TraceID+": api 200 in ") || !strings.Contains(r.Output, "→ kafka events[") {
		t.Errorf("output lacks the trail:\n%s", r.Output)
	}
}
