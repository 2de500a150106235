package pipeline_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		spec    string
		want    pipeline.Faults
		wantErr string
	}{
		{"", pipeline.Faults{}, ""},
		{"none", pipeline.Faults{}, ""},
		{"drop=0.1,dup=0.05,delay=200ms,corrupt=0.01,dest5xx=0.2",
			pipeline.Faults{Drop: 0.1, Dup: 0.05, Delay: 200 * time.Millisecond, Corrupt: 0.01, Dest5xx: 0.2}, ""},
		{"lose=0.3,drop=0.1,dup=0.05,delay=200ms,corrupt=0.01,dest5xx=0.2",
			pipeline.Faults{Drop: 0.1, Dup: 0.05, Delay: 200 * time.Millisecond, Corrupt: 0.01, Dest5xx: 0.2, Lose: 0.3}, ""},
		{"lose=1", pipeline.Faults{Lose: 1}, ""},
		{"lose=1.5", pipeline.Faults{}, "lose=1.5 is not a probability between 0 and 1"},
		{"lose=often", pipeline.Faults{}, "not a probability"},
		{"lose=1,lose=0", pipeline.Faults{}, "twice"},
		{" dest5xx = 1 , drop=0 ", pipeline.Faults{Dest5xx: 1}, ""},
		{"delay=1.5s", pipeline.Faults{Delay: 1500 * time.Millisecond}, ""},
		{"drop=1.5", pipeline.Faults{}, "between 0 and 1"},
		{"drop=-0.1", pipeline.Faults{}, "between 0 and 1"},
		{"drop=NaN", pipeline.Faults{}, "between 0 and 1"},
		{"drop=lots", pipeline.Faults{}, "not a probability"},
		{"delay=soon", pipeline.Faults{}, "not a duration"},
		{"delay=-1s", pipeline.Faults{}, "negative"},
		{"explode=1", pipeline.Faults{}, "unknown fault \"explode\" (known: drop, dup, delay, corrupt, dest5xx, lose)"},
		{"drop", pipeline.Faults{}, "key=value (keys: drop, dup, delay, corrupt, dest5xx, lose)"},
		{"drop=0.1,,dup=0.1", pipeline.Faults{}, "key=value"},
		{"drop=0.1,drop=0.2", pipeline.Faults{}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := pipeline.ParseFaults(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFaults(%q) error %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseFaults(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
			}
			again, err := pipeline.ParseFaults(got.String())
			if err != nil || again != got {
				t.Errorf("String() %q does not round-trip: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestFaultsJSON(t *testing.T) {
	f := pipeline.Faults{Drop: 0.25, Delay: time.Second}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"spec":"drop=0.25,delay=1s","drop":0.25,"dup":0,"delay":"1s","corrupt":0,"dest5xx":0,"lose":0}`
	if string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	lose := pipeline.Faults{Lose: 0.5}
	for _, in := range []string{`"lose=0.5"`, `{"lose":0.5}`, `{"spec":"lose=0.5","lose":0.5}`} {
		var got pipeline.Faults
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != lose {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", in, got, err, lose)
		}
	}
	var back pipeline.Faults
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Fatalf("%s reads back as %+v, %v", b, back, err)
	}
	for _, in := range []string{`"drop=0.25,delay=1s"`, `{"spec":"drop=0.25,delay=1s"}`, `{"drop":0.25,"delay":"1s"}`, string(b)} {
		var got pipeline.Faults
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != f {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", in, got, err, f)
		}
	}
	for _, in := range []string{`{"spec":"drop=0.25","drop":0.5}`, `{"drop":2}`, `{"lose":-1}`, `{"spec":"lose=1","lose":0}`, `{"delay":"soon"}`, `[1]`, `"drop=x"`} {
		var got pipeline.Faults
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, got)
		}
	}
}

// faultEnv starts a pipeline with faults f and a fast retry policy.
func faultEnv(t *testing.T, f pipeline.Faults) *env {
	t.Helper()
	return newEnv(t, nil, nil, func(c *pipeline.Config) { c.Faults = f })
}

// closeEnv drains the pipeline so that every consumed event is finished.
func closeEnv(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestFaultDrop(t *testing.T) {
	e := faultEnv(t, pipeline.Faults{Drop: 1})
	for _, id := range []string{"drop-1", "drop-2"} {
		e.track(id, "e") // acknowledged ...
	}
	waitCounter(t, e.metrics, 2, "faults_injected_total", "fault", "drop")
	closeEnv(t, e)
	if n := len(e.dest.deliveries()); n != 0 { // ... but never delivered
		t.Errorf("%d deliveries with drop=1, want 0", n)
	}
}

// Under lose the API answers 200 as usual, but the event never reaches Kafka.
func TestFaultLose(t *testing.T) {
	e := faultEnv(t, pipeline.Faults{Lose: 1})
	e.track("lose-1", "e")
	status, body := e.post("/v1/batch", `{"batch":[{"type":"track","event":"a","userId":"u","messageId":"lose-2"},{"type":"track","event":"b","userId":"u","messageId":"lose-3"}]}`)
	if status != http.StatusOK || body["success"] != true {
		t.Fatalf("batch under lose=1: %d %v, want 200 success", status, body)
	}
	if got := counter(e.metrics, "faults_injected_total", "fault", "lose"); got != 3 {
		t.Errorf("faults_injected_total{fault=lose} = %v, want 3", got)
	}
	if got := counter(e.metrics, "produced_total"); got != 0 {
		t.Errorf("produced_total = %v, want 0", got)
	}
	if got := counter(e.metrics, "ingested_total"); got != 3 {
		t.Errorf("ingested_total = %v, want 3", got)
	}
	// The answers came after the (empty) write: the topic holds nothing now, nor later.
	if ms := readAll(t, e.broker.Brokers(), "events"); len(ms) != 0 {
		t.Errorf("events topic holds %d messages under lose=1, want none", len(ms))
	}
	closeEnv(t, e)
	if n := len(e.dest.deliveries()); n != 0 {
		t.Errorf("%d deliveries under lose=1, want 0", n)
	}
}

// In a batch each event is lost on its own: some reach Kafka, some do not.
func TestFaultLoseIsPerEvent(t *testing.T) {
	const n = 64
	e := faultEnv(t, pipeline.Faults{Lose: 0.5})
	var items []string
	for i := range n {
		items = append(items, `{"type":"track","event":"e","userId":"u","messageId":"lose-`+strconv.Itoa(i)+`"}`)
	}
	if status, body := e.post("/v1/batch", `{"batch":[`+strings.Join(items, ",")+`]}`); status != http.StatusOK {
		t.Fatalf("batch: %d %v", status, body)
	}
	lost := int(counter(e.metrics, "faults_injected_total", "fault", "lose"))
	// All or none of 64 at p=0.5 has a probability of 2^-63.
	if lost == 0 || lost == n {
		t.Fatalf("%d of %d events lost at lose=0.5: not per event", lost, n)
	}
	if ms := readAll(t, e.broker.Brokers(), "events"); len(ms) != n-lost {
		t.Errorf("events topic holds %d messages, want %d (%d lost)", len(ms), n-lost, lost)
	}
}

func TestFaultDup(t *testing.T) {
	e := faultEnv(t, pipeline.Faults{Dup: 1})
	e.track("dup-1", "e")
	ds := e.dest.waitForID(t, "dup-1", 2)
	if string(ds[0].Body) != string(ds[1].Body) || !validSignature(ds[1]) {
		t.Errorf("duplicate differs: %s vs %s", ds[0].Body, ds[1].Body)
	}
	// A duplicate is a second delivery, not a retry: a new webhook-id, so
	// the receiver sees it as the duplicate it is.
	if a, b := ds[0].Header.Get("webhook-id"), ds[1].Header.Get("webhook-id"); a == b {
		t.Errorf("both copies have webhook-id %q", a)
	}
	waitCounter(t, e.metrics, 1, "faults_injected_total", "fault", "dup")
}

func TestFaultDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	e := faultEnv(t, pipeline.Faults{Delay: delay})
	start := time.Now()
	e.track("delay-1", "e")
	ds := e.dest.waitForID(t, "delay-1", 1)
	if took := ds[0].At.Sub(start); took < delay {
		t.Errorf("delivered after %v, want at least %v", took, delay)
	}
}

func TestFaultCorrupt(t *testing.T) {
	e := faultEnv(t, pipeline.Faults{Corrupt: 1})
	e.track("corrupt-1", "Checkout")
	got := e.dest.waitForID(t, "corrupt-1", 1)[0]
	if got.Event["event"] == "Checkout" {
		t.Errorf("event name not altered: %v", got.Event)
	}
	if props, _ := got.Event["properties"].(map[string]any); props["corrupted"] != true {
		t.Errorf("properties.corrupted not set: %v", got.Event)
	}
	if !validSignature(got) {
		t.Error("a corrupted delivery should still be signed over its body")
	}
}

func TestFaultDest5xx(t *testing.T) {
	e := faultEnv(t, pipeline.Faults{Dest5xx: 1})
	e.track("dest5xx-1", "e")
	dlq := readTopic(t, e.broker.Brokers(), "events-dead-letter", func(ms []kafka.Message) bool { return len(ms) >= 1 })
	if string(dlq[0].Key) != "dest5xx-1" {
		t.Errorf("dead letter key %q", dlq[0].Key)
	}
	// The dead letter says what the destination answered, how often it was tried, and where.
	if hs := kafkaHeaders(dlq[0]); hs["error"] != "destination answered 503" || hs["attempts"] != "3" ||
		hs["status"] != "503" || hs["destination"] != e.dest.URL() {
		t.Errorf("dead-letter headers %v", hs)
	}
	waitCounter(t, e.metrics, 3, "faults_injected_total", "fault", "dest5xx") // MaxAttempts
	if got := counter(e.metrics, "retried_total"); got != 2 {
		t.Errorf("retried_total = %v, want 2", got)
	}
	if n := len(e.dest.deliveries()); n != 0 {
		t.Errorf("destination received %d requests; dest5xx fails attempts without sending", n)
	}
}

func TestAdminFaults(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	disabled := newEnv(t, e.broker, nil, func(c *pipeline.Config) { c.AdminToken = ""; c.GroupID = "other" })

	put := func(base, token, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPut, base+"/admin/faults", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	tests := []struct {
		name, base, token, body string
		want                    int
		wantSpec                string
	}{
		{"no token", e.api.URL, "", "drop=1", 401, ""},
		{"wrong token", e.api.URL, "guess", "drop=1", 401, ""},
		{"spec body", e.api.URL, "admin-token", "drop=0.5,delay=10ms", 200, "drop=0.5,delay=10ms"},
		{"json body", e.api.URL, "admin-token", `{"dup":0.25,"dest5xx":1}`, 200, "dup=0.25,dest5xx=1"},
		{"bad spec", e.api.URL, "admin-token", "drop=7", 400, ""},
		{"clear", e.api.URL, "admin-token", "", 200, ""},
		{"disabled without admin token", disabled.api.URL, "", "drop=1", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.p.Faults()
			status, body := put(tt.base, tt.token, tt.body)
			if status != tt.want {
				t.Fatalf("PUT: %d %v, want %d", status, body, tt.want)
			}
			if status != 200 {
				if e.p.Faults() != before || !disabled.p.Faults().IsZero() {
					t.Errorf("rejected PUT changed the faults")
				}
				return
			}
			if body["spec"] != tt.wantSpec || e.p.Faults().String() != tt.wantSpec {
				t.Errorf("after PUT: answer %v, Faults() %q; want %q", body, e.p.Faults(), tt.wantSpec)
			}
			resp, err := http.Get(e.api.URL + "/admin/faults")
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Spec string }
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err != nil || got.Spec != tt.wantSpec {
				t.Errorf("GET /admin/faults: spec %q, %v; want %q", got.Spec, err, tt.wantSpec)
			}
		})
	}
}

func TestSetFaultsAppliesAtRunTime(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	e.track("before", "e")
	e.dest.waitForID(t, "before", 1)
	e.p.SetFaults(pipeline.Faults{Corrupt: 1})
	e.track("after", "Checkout")
	if got := e.dest.waitForID(t, "after", 1)[0]; got.Event["event"] == "Checkout" {
		t.Errorf("fault set at run time not applied: %v", got.Event)
	}
}
