package kafkasource_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/kafkasource"
	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/orbital-e2e/orbital/webhook"
)

// A message produced right after Start returns is received, on every
// partition, and arrives as a delivery carrying its key, headers and place.
func TestProducedRightAfterStart(t *testing.T) {
	brokers := broker(t)
	topic := newTopic(t, brokers, 3)
	w := testsupport.NewWriter(t, brokers, topic)
	rl := webhook.NewRouteLogger(kafkasource.MessageKey)
	start(t, kafkasource.Config{Brokers: brokers, Topics: []string{topic}, Logger: rl})

	// Right after Start: no wait of any kind before producing.
	keys := make([]string, 12)
	msgs := make([]kafka.Message, len(keys))
	for i := range keys {
		keys[i] = "order-" + strconv.Itoa(i)
		if err := rl.Sent(keys[i]); err != nil {
			t.Fatal(err)
		}
		msgs[i] = kafka.Message{Key: []byte(keys[i]), Value: []byte(`{"id":"` + keys[i] + `"}`),
			Headers: []kafka.Header{{Key: "x-order-id", Value: []byte(keys[i])}, {Key: "kafka-topic", Value: []byte("forged")}}}
	}
	testsupport.Produce(t, w, msgs...)

	parts := map[string]bool{}
	for _, k := range keys {
		got, err := rl.WaitFor(t.Context(), k, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got.Body != `{"id":"`+k+`"}` {
			t.Errorf("%s: Body %q", k, got.Body)
		}
		if got.Method != "" || got.Proto != kafkasource.Proto {
			t.Errorf("%s: Method %q Proto %q, want \"\" and %q", k, got.Method, got.Proto, kafkasource.Proto)
		}
		if h := webhook.Header("X-Order-Id")(got); h != k {
			t.Errorf("%s: Kafka header X-Order-Id = %q", k, h)
		}
		if v := got.Header.Values(kafkasource.HeaderTopic); len(v) != 1 || v[0] != topic {
			t.Errorf("%s: %s = %q, want only %q (the source's own replaces a forged one)", k, kafkasource.HeaderTopic, v, topic)
		}
		p, off := got.Header.Get(kafkasource.HeaderPartition), got.Header.Get(kafkasource.HeaderOffset)
		if _, err := strconv.Atoi(p); err != nil {
			t.Errorf("%s: partition header %q", k, p)
		}
		if want := "kafka://" + topic + "/" + p + "/" + off; got.RawURL != want {
			t.Errorf("%s: RawURL %q, want %q", k, got.RawURL, want)
		}
		if ts, err := time.Parse(time.RFC3339Nano, got.Header.Get(kafkasource.HeaderTimestamp)); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("%s: timestamp header %q (%v)", k, got.Header.Get(kafkasource.HeaderTimestamp), err)
		}
		if got.ReceivedAt.IsZero() {
			t.Errorf("%s: ReceivedAt is zero", k)
		}
		parts[p] = true
	}
	if len(parts) < 2 {
		t.Errorf("all messages on partitions %v; the test wants several read", parts)
	}
}

// A message produced within Config.Grace before Start is received; one
// older than the window is not; with a negative Grace, nothing before
// Start is.
func TestGraceWindow(t *testing.T) {
	brokers := broker(t)
	for _, tc := range []struct {
		name       string
		grace      time.Duration
		wantRecent bool
	}{
		{"default", 0, true},
		{"negative", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newTopic(t, brokers, 1)
			w := testsupport.NewWriter(t, brokers, topic)
			now := time.Now()
			testsupport.Produce(t, w,
				kafka.Message{Key: []byte("old"), Value: []byte("x"), Time: now.Add(-2 * kafkasource.DefaultGrace)},
				kafka.Message{Key: []byte("recent"), Value: []byte("x"), Time: now.Add(-kafkasource.DefaultGrace / 2)},
			)
			prom := metrics.NewHandler()
			eng := stats.NewEngine("orbital", prom)
			rl := webhook.NewRouteLogger(kafkasource.MessageKey)
			s := start(t, kafkasource.Config{Brokers: brokers, Topics: []string{topic}, Logger: rl, Grace: tc.grace, Stats: eng})
			testsupport.Produce(t, w, kafka.Message{Key: []byte("after"), Value: []byte("x")})
			testsupport.Sync(t, s)
			// All three are in one partition, in order: after Sync, what was
			// read has been recorded (unmatched, waiting for Sent).
			for _, k := range []string{"old", "recent", "after"} {
				if err := rl.Sent(k); err != nil {
					t.Fatal(err)
				}
			}
			want := map[string]bool{"old": false, "recent": tc.wantRecent, "after": true}
			n := 0
			for k, w := range want {
				if got := len(rl.Received(k)); got != map[bool]int{false: 0, true: 1}[w] {
					t.Errorf("%s: %d deliveries, want received=%v", k, got, w)
				}
				if w {
					n++
				}
			}
			testsupport.WantSample(t, testsupport.Scrape(t, prom), `orbital_kafkasource_received_total{topic="`+topic+`"}`, float64(n))
		})
	}
}

// A Source closed and a new one started right away receive at once: there
// is no group membership to wait out. Close waits for the readers.
func TestRestart(t *testing.T) {
	brokers := broker(t)
	topic := newTopic(t, brokers, 3)
	w := testsupport.NewWriter(t, brokers, topic)
	rl := webhook.NewRouteLogger(kafkasource.MessageKey)
	var closed atomic.Bool // set once a Close returned: no Record may follow it
	logger := loggerFunc(func(r webhook.Request) {
		if closed.Load() {
			t.Errorf("Record after Close returned: %s", r.RawURL)
		}
		rl.Record(r)
	})
	cfg := kafkasource.Config{Brokers: brokers, Topics: []string{topic}, Logger: logger}
	for i := range 3 {
		s, err := kafkasource.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		closed.Store(false)
		began := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		if err := s.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		cancel()
		key := "restart-" + strconv.Itoa(i)
		if err := rl.Sent(key); err != nil {
			t.Fatal(err)
		}
		testsupport.Produce(t, w, kafka.Message{Key: []byte(key), Value: []byte("x")})
		// Far below any consumer-group session timeout (kafka-go's default
		// is 30s, a typical broker minimum 6s).
		if _, err := rl.WaitFor(t.Context(), key, 5*time.Second); err != nil {
			t.Fatalf("run %d after a restart: %v", i, err)
		}
		t.Logf("start %d: received %v after Start began", i, time.Since(began))
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
		closed.Store(true)
		// The next source starts on what this one may no longer read.
		testsupport.Produce(t, w, kafka.Message{Key: []byte("after-close-" + strconv.Itoa(i)), Value: []byte("x")})
		if err := s.Close(); err != nil {
			t.Fatalf("second close %d: %v", i, err)
		}
		if err := s.Sync(t.Context()); err == nil {
			t.Errorf("Sync after Close succeeded")
		}
	}
}

// The key functions a user picks from: the message key, a Kafka header,
// a field of the JSON value.
func TestKeyFunctions(t *testing.T) {
	brokers := broker(t)
	for _, tc := range []struct {
		name string
		key  func(webhook.Request) string
		msg  func(id string) kafka.Message
	}{
		{"MessageKey", kafkasource.MessageKey, func(id string) kafka.Message {
			return kafka.Message{Key: []byte(id), Value: []byte("{}")}
		}},
		{"Header", webhook.Header("X-Order-Id"), func(id string) kafka.Message {
			return kafka.Message{Value: []byte("{}"), Headers: []kafka.Header{{Key: "X-Order-Id", Value: []byte(id)}}}
		}},
		{"JSONField", webhook.JSONField("order.id"), func(id string) kafka.Message {
			return kafka.Message{Key: []byte("other"), Value: []byte(`{"order":{"id":"` + id + `"}}`)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newTopic(t, brokers, 2)
			rl := webhook.NewRouteLogger(tc.key)
			start(t, kafkasource.Config{Brokers: brokers, Topics: []string{topic}, Logger: rl})
			id := "id-" + tc.name
			if err := rl.Sent(id); err != nil {
				t.Fatal(err)
			}
			testsupport.Produce(t, testsupport.NewWriter(t, brokers, topic), tc.msg(id))
			if _, err := rl.WaitFor(t.Context(), id, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Messages without a usable key are ignored by the RouteLogger and counted
// as unmatched; an oversized value is dropped and counted; the source's
// series exist at 0 from Start and do not collide with a Webhook's on the
// same engine.
func TestBadKeysAndMetrics(t *testing.T) {
	brokers := broker(t)
	topic := newTopic(t, brokers, 1)
	other := newTopic(t, brokers, 2)
	prom := metrics.NewHandler()
	eng := stats.NewEngine("orbital", prom)
	rl := webhook.NewRouteLogger(webhook.JSONField("id"), webhook.WithStats(eng))
	hook := webhook.New(webhook.Config{Logger: rl, Stats: eng})
	s := start(t, kafkasource.Config{Brokers: brokers, Topics: []string{topic, other}, Logger: rl, Stats: eng, MaxValueBytes: 64})

	got := testsupport.Scrape(t, prom)
	for _, tp := range []string{topic, other} {
		testsupport.WantSample(t, got, `orbital_kafkasource_received_total{topic="`+tp+`"}`, 0)
		testsupport.WantSample(t, got, `orbital_kafkasource_errors_total{topic="`+tp+`"}`, 0)
		testsupport.WantSample(t, got, `orbital_kafkasource_dropped_total{reason="too_large",topic="`+tp+`"}`, 0)
	}
	testsupport.WantSample(t, got, `orbital_kafkasource_partitions{topic="`+topic+`"}`, 1)
	testsupport.WantSample(t, got, `orbital_kafkasource_partitions{topic="`+other+`"}`, 2)

	if err := rl.Sent("good"); err != nil {
		t.Fatal(err)
	}
	// One partition: the bad ones are read before the good one.
	testsupport.Produce(t, testsupport.NewWriter(t, brokers, topic),
		kafka.Message{Value: []byte(`not json`)},
		kafka.Message{Value: []byte(`{"id":null}`)},
		kafka.Message{Value: []byte(`{"id":"` + strings.Repeat("x", 100) + `"}`)},
		kafka.Message{Value: []byte(`{"id":"good"}`)},
	)
	if _, err := rl.WaitFor(t.Context(), "good", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// A webhook delivery on the same engine counts under webhook_*.
	rec := httptestPost(t, hook, `{"id":"by-http"}`)
	if rec != http.StatusOK {
		t.Fatalf("webhook answered %d", rec)
	}
	testsupport.Sync(t, s)
	got = testsupport.Scrape(t, prom)
	testsupport.WantSample(t, got, `orbital_kafkasource_received_total{topic="`+topic+`"}`, 3)
	testsupport.WantSample(t, got, `orbital_kafkasource_dropped_total{reason="too_large",topic="`+topic+`"}`, 1)
	testsupport.WantSample(t, got, `orbital_kafkasource_errors_total{topic="`+topic+`"}`, 0)
	testsupport.WantSample(t, got, `orbital_webhook_unmatched_total`, 3) // two bad keys + the HTTP delivery nobody waits for
	testsupport.WantSample(t, got, `orbital_webhook_matched_total`, 1)
	testsupport.WantSample(t, got, `orbital_webhook_received_total`, 1) // the HTTP one only
}

// Bad configurations are refused by New; a topic that never appears makes
// Start fail, naming it, when its context ends; Start is once.
func TestConfigAndStartErrors(t *testing.T) {
	rl := webhook.NewRouteLogger(kafkasource.MessageKey)
	for _, tc := range []struct {
		cfg  kafkasource.Config
		want string
	}{
		{kafkasource.Config{Topics: []string{"t"}, Logger: rl}, "Brokers"},
		{kafkasource.Config{Brokers: []string{"x:1"}, Logger: rl}, "Topics"},
		{kafkasource.Config{Brokers: []string{"x:1"}, Topics: []string{"t", "t"}, Logger: rl}, "twice"},
		{kafkasource.Config{Brokers: []string{"x:1"}, Topics: []string{""}, Logger: rl}, "empty"},
		{kafkasource.Config{Brokers: []string{"x:1"}, Topics: []string{"t"}}, "Logger"},
	} {
		if _, err := kafkasource.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}

	brokers := broker(t)
	s, err := kafkasource.New(kafkasource.Config{Brokers: brokers, Topics: []string{"no-such-topic"}, Logger: rl})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err = s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") || !isDeadline(err) {
		t.Errorf("Start on a missing topic = %v, want a deadline error naming the topic", err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}

	closed, err := kafkasource.New(kafkasource.Config{Brokers: brokers, Topics: []string{"t"}, Logger: rl})
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	if err := closed.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// Record is called concurrently from the partitions' goroutines; a Logger
// that is safe for concurrent use sees every message once.
func TestEveryMessageOnce(t *testing.T) {
	brokers := broker(t)
	topic := newTopic(t, brokers, 4)
	var mu sync.Mutex
	seen := map[string]int{}
	logger := loggerFunc(func(r webhook.Request) {
		mu.Lock()
		seen[kafkasource.MessageKey(r)]++
		mu.Unlock()
	})
	s := start(t, kafkasource.Config{Brokers: brokers, Topics: []string{topic}, Logger: logger, Grace: -1})
	const n = 200
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("v")}
	}
	testsupport.Produce(t, testsupport.NewWriter(t, brokers, topic), msgs...)
	testsupport.Sync(t, s)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d distinct messages recorded, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("message %s recorded %d times", k, c)
		}
	}
}

type loggerFunc func(webhook.Request)

func (f loggerFunc) Record(r webhook.Request) { f(r) }
