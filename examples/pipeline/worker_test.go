package pipeline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

func TestRoundTripThroughKafka(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	e.track("round-trip-1", "Order Completed")

	got := e.dest.waitForID(t, "round-trip-1", 1)[0]
	if !validSignature(got) {
		t.Errorf("X-Signature %q does not verify over the body", got.Signature)
	}
	if got.Attempt != "1" {
		t.Errorf("X-Attempt %q, want 1", got.Attempt)
	}
	if n := counter(e.metrics, "faults_injected_total"); n != 0 {
		t.Errorf("faults_injected_total = %v without faults", n)
	}
	ev := got.Event
	if ev["processed"] != true || ev["event"] != "Order Completed" || ev["userId"] != "u1" || ev["type"] != "track" {
		t.Errorf("delivered event %v lacks processed:true or the original fields", ev)
	}
	if props, _ := ev["properties"].(map[string]any); props["n"] != float64(1) {
		t.Errorf("properties %v, want n=1", ev["properties"])
	}
	if ts, _ := ev["receivedAt"].(string); ts == "" {
		t.Errorf("no receivedAt in %v", ev)
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("receivedAt %q: %v", ts, err)
	}

	// A missing messageId is assigned; the batch endpoint delivers each event.
	status, _ := e.post("/v1/batch", `{"batch":[{"type":"track","event":"no-id","userId":"u"},{"type":"page","name":"P","anonymousId":"a","messageId":"batch-page"}]}`)
	if status != 200 {
		t.Fatalf("batch: %d", status)
	}
	e.dest.waitForID(t, "batch-page", 1)
	ds := e.dest.waitUntil(t, "the event without messageId", func(ds []delivery) bool {
		for _, d := range ds {
			if d.Event["event"] == "no-id" {
				return true
			}
		}
		return false
	})
	for _, d := range ds {
		if d.Event["event"] == "no-id" {
			if id, _ := d.Event["messageId"].(string); len(id) != 36 {
				t.Errorf("assigned messageId %q is not a UUID", id)
			}
		}
	}
	for _, name := range []string{"ingested_total", "produced_total"} {
		if got := counter(e.metrics, name); got != 3 {
			t.Errorf("%s = %v, want 3", name, got)
		}
	}
	waitCounter(t, e.metrics, 3, "consumed_total")
	waitCounter(t, e.metrics, 3, "delivered_total")
}

func TestEveryDestinationGetsTheEvent(t *testing.T) {
	other := newDestination(t, nil)
	e := newEnv(t, nil, nil, func(c *pipeline.Config) { c.Destinations = append(c.Destinations, other.URL()) })
	e.track("fan-out", "e")
	e.dest.waitForID(t, "fan-out", 1)
	other.waitForID(t, "fan-out", 1)
}

func TestDeduplicatesByMessageID(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	for range 3 {
		e.track("same-id", "e")
	}
	e.track("other-id", "e")
	e.dest.waitForID(t, "other-id", 1)
	waitCounter(t, e.metrics, 2, "duplicates_dropped_total")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dest.byID("same-id")); n != 1 {
		t.Errorf("same-id delivered %d times, want 1", n)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	tests := []struct {
		name    string
		respond func(n int, w http.ResponseWriter) bool
	}{
		{"5xx then success", func(n int, w http.ResponseWriter) bool {
			if n < 3 {
				w.WriteHeader(http.StatusBadGateway)
				return true
			}
			return false
		}},
		{"429 then success", func(n int, w http.ResponseWriter) bool {
			if n < 3 {
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}},
		{"network error then success", func(n int, w http.ResponseWriter) bool {
			if n < 3 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return true
			}
			return false
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := newDestination(t, tt.respond)
			e := newEnv(t, nil, dest, nil)
			e.track("retry-me", "e")
			ds := dest.waitForID(t, "retry-me", 3)
			for i, d := range ds {
				if d.Attempt != strconv.Itoa(i+1) {
					t.Errorf("delivery %d has X-Attempt %q", i, d.Attempt)
				}
				if !validSignature(d) {
					t.Errorf("attempt %d signature invalid", i+1)
				}
				// Retries are the same delivery: the same webhook-id, so a
				// receiver answers a retry of a delivery it kept 2xx
				// without recording it twice.
				if id := d.Header.Get("webhook-id"); id != ds[0].Header.Get("webhook-id") || !strings.HasPrefix(id, "msg_") {
					t.Errorf("attempt %d has webhook-id %q, attempt 1 %q", i+1, id, ds[0].Header.Get("webhook-id"))
				}
			}
			waitCounter(t, e.metrics, 1, "delivered_total")
			if got := counter(e.metrics, "retried_total"); got != 2 {
				t.Errorf("retried_total = %v, want 2", got)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	dest := newDestination(t, func(n int, w http.ResponseWriter) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	e := newEnv(t, nil, dest, func(c *pipeline.Config) { c.RetryAfterMax = 2 * time.Second })
	e.track("retry-after", "e")
	ds := dest.waitForID(t, "retry-after", 2)
	if gap := ds[1].At.Sub(ds[0].At); gap < 900*time.Millisecond {
		t.Errorf("second attempt came %v after the first, want about Retry-After: 1s", gap)
	}
}

func TestDeadLetters(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		wantAttempts int
	}{
		{"5xx until attempts run out", http.StatusInternalServerError, 3},
		{"4xx is not retried", http.StatusBadRequest, 1},
		{"3xx is a failure, not retried", http.StatusMultipleChoices, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := newDestination(t, func(_ int, w http.ResponseWriter) bool { w.WriteHeader(tt.status); return true })
			e := newEnv(t, nil, dest, func(c *pipeline.Config) { c.GroupID = "dead-letters"; c.Partitions = 1 })
			e.track("doomed", "e")
			// Once the event's offset is committed the worker is done with
			// it, and a dead letter is written before that: the topic must
			// hold it now, exactly once. Waiting for it instead would let a
			// worker that never writes one fail only by a timeout.
			waitCommitted(t, e.broker.Brokers(), "dead-letters", "events", 1)
			dlq := readAll(t, e.broker.Brokers(), "events-dead-letter")
			if len(dlq) != 1 || string(dlq[0].Key) != "doomed" {
				t.Fatalf("dead-letter topic holds %d messages after the event was committed, want the doomed event once", len(dlq))
			}
			headers := map[string]string{}
			for _, h := range dlq[0].Headers {
				headers[h.Key] = string(h.Value)
			}
			if headers["attempts"] != strconv.Itoa(tt.wantAttempts) || headers["status"] != strconv.Itoa(tt.status) ||
				headers["error"] != "destination answered "+strconv.Itoa(tt.status) {
				t.Errorf("dead-letter headers %v", headers)
			}
			if n := len(dest.byID("doomed")); n != tt.wantAttempts {
				t.Errorf("destination saw %d attempts, want %d", n, tt.wantAttempts)
			}
			waitCounter(t, e.metrics, 1, "dead_lettered_total")
			if got := counter(e.metrics, "delivered_total"); got != 0 {
				t.Errorf("delivered_total = %v, want 0", got)
			}
		})
	}
}

func TestInvalidEventOnTopicIsDeadLettered(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	w := &kafka.Writer{Addr: kafka.TCP(e.broker.Brokers()...), Topic: "events", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	ctx := testContext(t)
	if err := w.WriteMessages(ctx,
		kafka.Message{Key: []byte("junk"), Value: []byte("not json")},
		kafka.Message{Key: []byte("from-kafka"), Value: []byte(`{"type":"track","event":"direct","userId":"u"}`)},
		kafka.Message{Key: []byte("some-key"), Value: []byte(`{"type":"track","event":"direct","userId":"u","messageId":"own-id"}`)},
	); err != nil {
		t.Fatal(err)
	}
	// An event written straight to Kafka without messageId takes the key.
	e.dest.waitForID(t, "from-kafka", 1)
	e.dest.waitForID(t, "own-id", 1) // an event's own messageId wins over the key
	dlq := readTopic(t, e.broker.Brokers(), "events-dead-letter", func(ms []kafka.Message) bool { return len(ms) >= 1 })
	if string(dlq[0].Key) != "junk" || string(dlq[0].Value) != "not json" {
		t.Errorf("dead letter %q=%q, want the junk message unchanged", dlq[0].Key, dlq[0].Value)
	}
}

func TestXSignatureScheme(t *testing.T) {
	e := newEnv(t, nil, nil, func(c *pipeline.Config) { c.Signature = pipeline.SignatureXSignature })
	e.track("x-signature-1", "e")
	got := e.dest.waitForID(t, "x-signature-1", 1)[0]
	if got.Header.Get("X-Signature") == "" || !validSignature(got) {
		t.Errorf("X-Signature %q does not verify over the body", got.Header.Get("X-Signature"))
	}
	if h := got.Header.Get("webhook-signature"); h != "" {
		t.Errorf("webhook-signature %q set under the X-Signature scheme", h)
	}
}

func TestBadSignatureSchemeRefused(t *testing.T) {
	_, err := pipeline.New(pipeline.Config{Brokers: []string{"127.0.0.1:9"}, Signature: "v0"})
	if err == nil || !strings.Contains(err.Error(), "Signature") {
		t.Errorf("New with Signature v0 = %v, want an error naming Signature", err)
	}
}

func TestSecretKeyDecodesWhsec(t *testing.T) {
	if got := string(pipeline.SecretKey([]byte("whsec_c2VjcmV0"))); got != "secret" {
		t.Errorf("SecretKey(whsec_c2VjcmV0) = %q, want %q", got, "secret")
	}
	if got := string(pipeline.SecretKey([]byte("plain"))); got != "plain" {
		t.Errorf("SecretKey(plain) = %q", got)
	}
	// The spec's example: id, timestamp and body signed under a whsec_ secret.
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	got := pipeline.SignStandard([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != want {
		t.Errorf("SignStandard = %q, want the reference libraries' %q", got, want)
	}
}

// With an OutputTopic every processed event is also written there, keyed by its messageId,
// as delivered to the webhooks.
func TestOutputTopic(t *testing.T) {
	dest := newDestination(t, nil)
	e := newEnv(t, nil, dest, func(c *pipeline.Config) { c.OutputTopic = "events-processed" })
	e.track("out-1", "Order Completed")
	dest.waitForID(t, "out-1", 1)
	out := readTopic(t, e.broker.Brokers(), "events-processed", func(ms []kafka.Message) bool { return len(ms) >= 1 })
	if len(out) != 1 || string(out[0].Key) != "out-1" {
		t.Fatalf("output topic holds %d messages, want out-1", len(out))
	}
	var ev map[string]any
	if err := json.Unmarshal(out[0].Value, &ev); err != nil || ev["messageId"] != "out-1" || ev["processed"] != true {
		t.Errorf("output message %s (%v), want the processed event", out[0].Value, err)
	}
	if _, err := pipeline.New(pipeline.Config{Brokers: e.broker.Brokers(), OutputTopic: "events"}); err == nil {
		t.Error("an OutputTopic equal to the ingest topic was accepted")
	}
}
