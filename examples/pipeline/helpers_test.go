package pipeline_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	stats "github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/testsupport"
)

const (
	writeKey = "test-write-key"
	secret   = "test-secret"
	waitFor  = 20 * time.Second // deadline for anything to happen
)

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var startBroker = testsupport.StartBroker

// env is a running pipeline with its broker, destination and metrics.
type env struct {
	t       testing.TB
	broker  *embedkafka.Broker
	p       *pipeline.Pipeline
	api     *httptest.Server
	dest    *destination
	metrics *statstest.Handler
	cfg     pipeline.Config
}

// newEnv starts a broker (unless broker is given), a destination and a
// pipeline with fast test settings; modify adjusts the Config before New.
func newEnv(t testing.TB, broker *embedkafka.Broker, dest *destination, modify func(*pipeline.Config)) *env {
	t.Helper()
	if broker == nil {
		broker = startBroker(t)
	}
	if dest == nil {
		dest = newDestination(t, nil)
	}
	e := &env{t: t, broker: broker, dest: dest, metrics: &statstest.Handler{}}
	e.cfg = pipeline.Config{
		Brokers:           broker.Brokers(),
		WriteKeys:         []string{writeKey, "second-key"},
		Destinations:      []string{dest.URL()},
		DestinationSecret: []byte(secret),
		AdminToken:        "admin-token",
		MaxAttempts:       3,
		BackoffMin:        time.Millisecond,
		BackoffMax:        5 * time.Millisecond,
		ProduceTimeout:    2 * time.Second,
		CommitInterval:    20 * time.Millisecond,
		Stats:             stats.NewEngine("", e.metrics),
	}
	if modify != nil {
		modify(&e.cfg)
	}
	p, err := pipeline.New(e.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.p = p
	if err := p.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	e.api = httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		e.api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Logf("Close: %v", err) // tests that care call Close themselves
		}
	})
	return e
}

// post sends body to path with the write key and JSON content type.
func (e *env) post(path, body string) (int, map[string]any) {
	e.t.Helper()
	return doPost(e.t, e.api.URL+path, body, func(r *http.Request) {
		r.SetBasicAuth(writeKey, "")
		r.Header.Set("Content-Type", "application/json")
	})
}

func doPost(t testing.TB, url, body string, prepare func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s: %d answer is not JSON: %q", url, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// track posts a track event with the given messageId and checks the 200.
func (e *env) track(id, name string) {
	e.t.Helper()
	status, body := e.post("/v1/track", `{"messageId":"`+id+`","event":"`+name+`","userId":"u1","properties":{"n":1}}`)
	if status != http.StatusOK || body["success"] != true {
		e.t.Fatalf("track %s: %d %v", id, status, body)
	}
}

// delivery is one request the destination received.
type delivery struct {
	Attempt   string
	Signature string // webhook-signature (or X-Signature under SignatureXSignature)
	Body      []byte
	Event     map[string]any
	At        time.Time
	Header    http.Header
}

// destination is a webhook receiver that records deliveries and answers with
// respond (nil: 200). It is safe for concurrent use.
type destination struct {
	srv     *httptest.Server
	respond func(n int, w http.ResponseWriter) bool // n counts requests from 1; false: answer 200

	mu     sync.Mutex
	n      int
	got    []delivery
	signal chan struct{} // replaced on every delivery
	stop   chan struct{} // closed when the test ends, before the server closes
}

func newDestination(t testing.TB, respond func(n int, w http.ResponseWriter) bool) *destination {
	t.Helper()
	d := &destination{respond: respond, signal: make(chan struct{}), stop: make(chan struct{})}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev map[string]any
		_ = json.Unmarshal(b, &ev)
		d.mu.Lock()
		d.n++
		n := d.n
		sig := r.Header.Get("webhook-signature")
		if sig == "" {
			sig = r.Header.Get("X-Signature")
		}
		d.got = append(d.got, delivery{r.Header.Get("X-Attempt"), sig, b, ev, time.Now(), r.Header.Clone()})
		close(d.signal)
		d.signal = make(chan struct{})
		d.mu.Unlock()
		if d.respond != nil && d.respond(n, w) {
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		close(d.stop) // ends every hold, or Close would wait for it forever
		d.srv.Close()
	})
	return d
}

// hold blocks a respond function until release is closed or the test ends,
// whichever comes first: a test that fails before releasing its hanging
// deliveries then fails instead of hanging in its cleanup.
func (d *destination) hold(release <-chan struct{}) {
	select {
	case <-release:
	case <-d.stop:
	}
}

func (d *destination) URL() string { return d.srv.URL + "/webhook" }

func (d *destination) deliveries() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery(nil), d.got...)
}

// byID returns the deliveries of messageId id.
func (d *destination) byID(id string) []delivery {
	var out []delivery
	for _, g := range d.deliveries() {
		if g.Event["messageId"] == id {
			out = append(out, g)
		}
	}
	return out
}

// waitUntil blocks until cond holds for the recorded deliveries, failing the
// test after the deadline.
func (d *destination) waitUntil(t testing.TB, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		got, sig := append([]delivery(nil), d.got...), d.signal
		d.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-sig:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; %d deliveries so far", what, len(got))
		}
	}
}

// waitForID waits until n deliveries of messageId id arrived.
func (d *destination) waitForID(t testing.TB, id string, n int) []delivery {
	t.Helper()
	d.waitUntil(t, "delivery of "+id, func(ds []delivery) bool {
		c := 0
		for _, g := range ds {
			if g.Event["messageId"] == id {
				c++
			}
		}
		return c >= n
	})
	return d.byID(id)
}

// validSignature reports whether d carries a valid signature: Standard
// Webhooks (the default) with a timestamp within a minute of its arrival, or
// X-Signature.
func validSignature(d delivery) bool {
	if xs := d.Header.Get("X-Signature"); xs != "" {
		return hmac.Equal([]byte(xs), []byte(pipeline.Sign([]byte(secret), d.Body)))
	}
	id, tsStr := d.Header.Get("webhook-id"), d.Header.Get("webhook-timestamp")
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if id == "" || err != nil || d.At.Sub(time.Unix(ts, 0)).Abs() > time.Minute {
		return false
	}
	return hmac.Equal([]byte(d.Signature), []byte(pipeline.SignStandard([]byte(secret), id, ts, d.Body)))
}

// counter sums the counter named name (without prefix) whose tags include
// the given key/value pairs.
func counter(h *statstest.Handler, name string, tags ...string) float64 {
	var sum float64
	for _, m := range h.Measures() {
		for _, f := range m.Fields {
			full := f.Name
			if m.Name != "" {
				full = m.Name + "." + f.Name
			}
			if full != name || !hasTags(m.Tags, tags) {
				continue
			}
			switch v := f.Value; v.Type() {
			case stats.Int:
				sum += float64(v.Int())
			case stats.Uint:
				sum += float64(v.Uint())
			case stats.Float:
				sum += v.Float()
			case stats.Duration:
				sum += v.Duration().Seconds()
			}
		}
	}
	return sum
}

func hasTags(have []stats.Tag, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, t := range have {
			if t.Name == want[i] && t.Value == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitCounter waits, with a deadline, until counter(name, tags) >= n.
func waitCounter(t testing.TB, h *statstest.Handler, n float64, name string, tags ...string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for counter(h, name, tags...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s%v >= %v (is %v)", name, tags, n, counter(h, name, tags...))
		}
		<-tick.C
	}
}

// readTopic reads messages of topic (all partitions, from the start, no
// group) until stop returns true or the deadline passes.
func readTopic(t testing.TB, brokers []string, topic string, stop func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var mu sync.Mutex
	var got []kafka.Message
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				got = append(got, m)
				if stop(got) {
					once.Do(func() { close(done) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Errorf("timed out reading %s: %d messages", topic, len(got))
	}
	cancel()
	wg.Wait()
	return got
}

// readAll returns every message topic holds now: it reads each partition up
// to the end offset it has when readAll is called.
func readAll(t testing.TB, brokers []string, topic string) []kafka.Message {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %+v", topic, err, meta)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	total := 0
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, p.Partition, p.Error)
		}
		total += int(p.LastOffset)
	}
	if total == 0 {
		return nil
	}
	return readTopic(t, brokers, topic, func(ms []kafka.Message) bool { return len(ms) >= total })
}
