package pipeline_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

const (
	traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID    = "00f067aa0ba902b7"
	traceparent = "00-" + traceID + "-" + parentID + "-01"
	tracestate  = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
)

// traceparentRE is a version-00 traceparent as the W3C recommendation writes it.
var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// span checks that v is a valid traceparent in trace traceID with flags, and returns its
// parent (span) id.
func span(t *testing.T, v, flags string) string {
	t.Helper()
	m := traceparentRE.FindStringSubmatch(v)
	if m == nil || strings.Trim(m[2], "0") == "" {
		t.Fatalf("traceparent %q is not a valid version-00 traceparent", v)
	}
	if m[1] != traceID || m[3] != flags {
		t.Fatalf("traceparent %q: trace id %s flags %s, want %s %s", v, m[1], m[3], traceID, flags)
	}
	return m[2]
}

// postTraced posts body to path with the write key and the given trace headers.
func (e *env) postTraced(path, body string, trace map[string]string) int {
	e.t.Helper()
	status, _ := doPost(e.t, e.api.URL+path, body, func(r *http.Request) {
		r.SetBasicAuth(writeKey, "")
		r.Header.Set("Content-Type", "application/json")
		for k, v := range trace {
			r.Header.Set(k, v)
		}
	})
	return status
}

func kafkaHeaders(m kafka.Message) map[string]string {
	hs := map[string]string{}
	for _, h := range m.Headers {
		hs[h.Key] = string(h.Value)
	}
	return hs
}

// byKey returns the messages of topic keyed key, reading until there are n.
func byKey(t *testing.T, brokers []string, topic string, n int, keys ...string) map[string]kafka.Message {
	t.Helper()
	got := map[string]kafka.Message{}
	readTopic(t, brokers, topic, func(ms []kafka.Message) bool {
		for _, m := range ms {
			for _, k := range keys {
				if string(m.Key) == k {
					got[k] = m
				}
			}
		}
		return len(got) >= n
	})
	return got
}

// A request's traceparent reaches Kafka unchanged, and every delivery attempt carries the
// same trace id and flags with a span id of its own, as an OpenTelemetry-instrumented
// service's outgoing requests do.
func TestTraceContextReachesDeliveries(t *testing.T) {
	dest := newDestination(t, func(n int, w http.ResponseWriter) bool {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // one retry: a second attempt
			return true
		}
		return false
	})
	e := newEnv(t, nil, dest, nil)
	if s := e.postTraced("/v1/track", `{"messageId":"traced-1","event":"e","userId":"u"}`,
		map[string]string{"traceparent": traceparent, "tracestate": tracestate}); s != http.StatusOK {
		t.Fatalf("track: %d", s)
	}
	ds := dest.waitForID(t, "traced-1", 2)
	spans := map[string]bool{parentID: true}
	for i, d := range ds {
		if d.Attempt != strconv.Itoa(i+1) {
			t.Errorf("delivery %d: X-Attempt %q", i, d.Attempt)
		}
		s := span(t, d.Header.Get("traceparent"), "01")
		if spans[s] {
			t.Errorf("attempt %s: span id %s is the caller's or another attempt's", d.Attempt, s)
		}
		spans[s] = true
		if got := d.Header.Get("tracestate"); got != tracestate {
			t.Errorf("attempt %s: tracestate %q, want %q", d.Attempt, got, tracestate)
		}
	}
	msg := byKey(t, e.broker.Brokers(), "events", 1, "traced-1")["traced-1"]
	if hs := kafkaHeaders(msg); hs["traceparent"] != traceparent || hs["tracestate"] != tracestate {
		t.Errorf("events message headers %v, want the request's traceparent and tracestate", hs)
	}
}

// Every event of a batch carries the batch request's trace context.
func TestTraceContextOfBatch(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	const tp = "00-" + traceID + "-" + parentID + "-00" // not sampled: the flags are kept
	body := `{"batch":[{"type":"track","event":"a","userId":"u","messageId":"tb-1"},` +
		`{"type":"page","name":"P","anonymousId":"x","messageId":"tb-2"},{"type":"identify","userId":"u","messageId":"tb-3"}]}`
	if s := e.postTraced("/v1/batch", body, map[string]string{"traceparent": tp}); s != http.StatusOK {
		t.Fatalf("batch: %d", s)
	}
	spans := map[string]bool{}
	for _, id := range []string{"tb-1", "tb-2", "tb-3"} {
		d := e.dest.waitForID(t, id, 1)[0]
		spans[span(t, d.Header.Get("traceparent"), "00")] = true
		if v, ok := d.Header["Tracestate"]; ok {
			t.Errorf("%s: tracestate %q without one in the request", id, v)
		}
	}
	if len(spans) != 3 || spans[parentID] {
		t.Errorf("span ids %v: want three new ones", spans)
	}
	msgs := byKey(t, e.broker.Brokers(), "events", 3, "tb-1", "tb-2", "tb-3")
	for id, m := range msgs {
		if hs := kafkaHeaders(m); hs["traceparent"] != tp || len(m.Headers) != 1 {
			t.Errorf("%s: events message headers %v, want traceparent %s alone", id, hs, tp)
		}
	}
}

// An invalid traceparent is ignored (the event is accepted and delivered without trace
// context, and its tracestate is dropped with it); a missing one adds nothing.
func TestInvalidTraceparentIgnored(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	cases := map[string]string{
		"inv-none":      "",
		"inv-upper":     "00-" + strings.ToUpper(traceID) + "-" + parentID + "-01",
		"inv-zero":      "00-00000000000000000000000000000000-" + parentID + "-01",
		"inv-zerospan":  "00-" + traceID + "-0000000000000000-01",
		"inv-ff":        "ff-" + traceID + "-" + parentID + "-01",
		"inv-short":     "00-" + traceID + "-" + parentID + "-1",
		"inv-trailing":  traceparent + "-00",
		"inv-garbage":   "hello",
		"inv-separator": strings.ReplaceAll(traceparent, "-", "_"),
	}
	var ids []string
	for id, tp := range cases {
		trace := map[string]string{"tracestate": tracestate}
		if tp != "" {
			trace["traceparent"] = tp
		}
		if s := e.postTraced("/v1/track", `{"messageId":"`+id+`","event":"e","userId":"u"}`, trace); s != http.StatusOK {
			t.Fatalf("%s: track with traceparent %q answered %d, want 200", id, tp, s)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		d := e.dest.waitForID(t, id, 1)[0]
		if tp, ts := d.Header.Get("traceparent"), d.Header.Get("tracestate"); tp != "" || ts != "" {
			t.Errorf("%s (traceparent %q): delivered with traceparent %q tracestate %q", id, cases[id], tp, ts)
		}
	}
	for id, m := range byKey(t, e.broker.Brokers(), "events", len(ids), ids...) {
		if len(m.Headers) != 0 {
			t.Errorf("%s: events message headers %v, want none", id, kafkaHeaders(m))
		}
	}
}

// A dead letter and the output topic's message carry the consumed trace context, and the dead
// letter says what the destination answered.
func TestTraceContextOnDeadLetterAndOutput(t *testing.T) {
	e := newEnv(t, nil, nil, func(c *pipeline.Config) {
		c.OutputTopic = "events-processed"
		c.Faults = pipeline.Faults{Dest5xx: 1}
	})
	if s := e.postTraced("/v1/track", `{"messageId":"traced-dlq","event":"e","userId":"u"}`,
		map[string]string{"traceparent": traceparent, "tracestate": tracestate}); s != http.StatusOK {
		t.Fatalf("track: %d", s)
	}
	dl := byKey(t, e.broker.Brokers(), "events-dead-letter", 1, "traced-dlq")["traced-dlq"]
	want := map[string]string{
		"error": "destination answered 503", "destination": e.dest.URL(), "attempts": "3", "status": "503",
		"traceparent": traceparent, "tracestate": tracestate,
	}
	if hs := kafkaHeaders(dl); len(hs) != len(want) || len(dl.Headers) != len(want) {
		t.Errorf("dead-letter headers %v, want %v", hs, want)
	} else {
		for k, v := range want {
			if hs[k] != v {
				t.Errorf("dead-letter header %s = %q, want %q", k, hs[k], v)
			}
		}
	}
	out := byKey(t, e.broker.Brokers(), "events-processed", 1, "traced-dlq")["traced-dlq"]
	if hs := kafkaHeaders(out); hs["traceparent"] != traceparent || hs["tracestate"] != tracestate || len(out.Headers) != 2 {
		t.Errorf("output topic headers %v, want the request's traceparent and tracestate", hs)
	}
}

// Browsers send a preflight before a request with traceparent and tracestate; it allows them.
func TestPreflightAllowsTraceHeaders(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	for _, path := range []string{"/v1/t", "/v1/track", "/v1/batch"} {
		req, _ := http.NewRequest(http.MethodOptions, e.api.URL+path, nil)
		req.Header.Set("Origin", "https://shop.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,traceparent,tracestate")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allowed := map[string]bool{}
		for h := range strings.SplitSeq(resp.Header.Get("Access-Control-Allow-Headers"), ",") {
			allowed[strings.ToLower(strings.TrimSpace(h))] = true
		}
		if resp.StatusCode != http.StatusNoContent || !allowed["traceparent"] || !allowed["tracestate"] {
			t.Errorf("preflight of %s: %d, Access-Control-Allow-Headers %q; want 204 allowing traceparent and tracestate",
				path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
}
