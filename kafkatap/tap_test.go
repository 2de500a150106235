package kafkatap_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital/metrics"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A watched key's records in two topics are sighted where and when they
// were written, as the broker itself says when the record is read back.
func TestSightingsInTwoTopics(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 3)
	processed := newTopic(t, brokers, "events", "-processed", 1)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events, processed}})
	watch(t, tap, "msg-1")

	written := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	before := time.Now()
	produce(t, newWriter(t, brokers, events),
		kafka.Message{Key: []byte("other-1"), Value: []byte("{}")},
		kafka.Message{Key: []byte("msg-1"), Value: []byte(`{"n":1}`), Time: written,
			Headers: []kafka.Header{{Key: "traceparent", Value: []byte(traceparent)}, {Key: "x-other", Value: []byte("not kept")}}})
	produce(t, newWriter(t, brokers, processed), kafka.Message{Key: []byte("msg-1"), Value: []byte(`{"n":2}`), Time: written.Add(time.Second)})
	syncTap(t, tap)

	got := tap.Sightings("msg-1")
	if len(got) != 2 {
		t.Fatalf("sightings %+v, want 2", got)
	}
	// Sightings are in the order the tap read them: across partitions,
	// not necessarily the order written.
	if got[0].Topic != events {
		got[0], got[1] = got[1], got[0]
	}
	for i, s := range got {
		wantTopic, wantTime := []string{events, processed}[i], written.Add(time.Duration(i)*time.Second)
		if s.Topic != wantTopic || !s.Time.Equal(wantTime) || s.DeadLetter {
			t.Errorf("sighting %d: %+v, want topic %s, time %v, not dead", i, s, wantTopic, wantTime)
		}
		if s.SeenAt.Before(before) || s.SeenAt.After(time.Now()) {
			t.Errorf("sighting %d: SeenAt %v outside the test", i, s.SeenAt)
		}
		back := readAt(t, brokers, s.Topic, s.Partition, s.Offset)
		if string(back.Key) != "msg-1" || !back.Time.Equal(s.Time) {
			t.Errorf("sighting %d: %s/%d@%d holds key %q at %v", i, s.Topic, s.Partition, s.Offset, back.Key, back.Time)
		}
	}
	if h := got[0].Headers; len(h) != 1 || h["traceparent"] != traceparent {
		t.Fatalf("headers of a record that is no dead letter: %v, want traceparent only", h)
	}
	if got[1].Headers != nil {
		t.Errorf("headers %v on a record without any", got[1].Headers)
	}
	// A copy: changing it changes nothing in the tap.
	got[0].Headers["traceparent"] = "changed"
	got[0].Topic = "changed"
	for _, s := range tap.Sightings("msg-1") {
		if s.Topic == "changed" || (s.Topic == events && s.Headers["traceparent"] != traceparent) {
			t.Errorf("Sightings returned the tap's own: %+v", s)
		}
	}
	if topics := tap.Topics(); len(topics) != 2 || topics[0] != events || topics[1] != processed {
		t.Errorf("Topics() = %v", topics)
	}
}

// Dead letters: by the topic's name, or by an error header anywhere; their
// headers are kept within the caps.
func TestDeadLetter(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 1)
	dlq := newTopic(t, brokers, "events", "-dead-letter", 1)
	prom := metrics.NewHandler()
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events, dlq}, Stats: stats.NewEngine("orbital", prom)})
	watch(t, tap, "dl-1", "spring-1", "many-1")

	produce(t, newWriter(t, brokers, dlq), kafka.Message{Key: []byte("dl-1"), Value: []byte("{}"), Headers: []kafka.Header{
		{Key: "error", Value: []byte("destination answered 503")}, {Key: "attempts", Value: []byte("5")},
		{Key: "status", Value: []byte("503")}, {Key: "destination", Value: []byte("https://dest.example/hook")},
	}})
	many := []kafka.Header{{Key: "__connect.errors.exception.message", Value: []byte(strings.Repeat("é", 300))}}
	for i := range 20 {
		many = append(many, kafka.Header{Key: "h" + strconv.Itoa(i), Value: []byte("v")})
	}
	produce(t, newWriter(t, brokers, events),
		kafka.Message{Key: []byte("spring-1"), Value: []byte("{}"), Headers: []kafka.Header{
			{Key: "kafka_dlt-exception-message", Value: []byte("boom")},
			{Key: "kafka_dlt-original-offset", Value: []byte{0, 0, 0, 0, 0, 0, 4, 210}},
		}},
		kafka.Message{Key: []byte("many-1"), Value: []byte("{}"), Headers: many})
	syncTap(t, tap)

	dl := tap.Sightings("dl-1")
	if len(dl) != 1 || !dl[0].DeadLetter || dl[0].Topic != dlq {
		t.Fatalf("dead-letter topic sighting: %+v", dl)
	}
	want := map[string]string{"error": "destination answered 503", "attempts": "5", "status": "503", "destination": "https://dest.example/hook"}
	if len(dl[0].Headers) != len(want) {
		t.Errorf("headers %v, want %v", dl[0].Headers, want)
	}
	for k, v := range want {
		if dl[0].Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, dl[0].Headers[k], v)
		}
	}
	sp := tap.Sightings("spring-1")
	if len(sp) != 1 || !sp[0].DeadLetter || sp[0].Topic != events ||
		sp[0].Headers["kafka_dlt-exception-message"] != "boom" || sp[0].Headers["kafka_dlt-original-offset"] != "0x00000000000004d2" {
		t.Errorf("error header on an ordinary topic: %+v", sp)
	}
	m := tap.Sightings("many-1")
	if len(m) != 1 || !m[0].DeadLetter || len(m[0].Headers) != kafkatap.MaxHeaders {
		t.Fatalf("21 headers: %+v, want a dead letter with %d", m, kafkatap.MaxHeaders)
	}
	if v := m[0].Headers["__connect.errors.exception.message"]; len(v) > kafkatap.MaxHeaderBytes || len(v) < kafkatap.MaxHeaderBytes-1 || !strings.HasPrefix(v, "éé") {
		t.Errorf("long value kept as %d bytes %q, want it cut to %d at a rune", len(v), v, kafkatap.MaxHeaderBytes)
	}
	got := scrape(t, prom)
	wantSample(t, got, `orbital_tap_dropped_total{reason="headers"}`, 1)
	wantSample(t, got, `orbital_tap_sightings_total{topic="`+dlq+`"}`, 1)
	wantSample(t, got, `orbital_tap_sightings_total{topic="`+events+`"}`, 2)
}

// A record whose key is another id is matched by its value's top-level
// messageId, read as webhook.JSONField reads it (a number by its text); a
// nested one, or one in an array, is not.
func TestMatchByMessageID(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 2)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}})
	watch(t, tap, "m-2", "m-3", "m-4", "m-5", "7")
	produce(t, newWriter(t, brokers, events),
		kafka.Message{Key: []byte("user-7"), Value: []byte(`{"type":"track","properties":{"a":[1,"}"]},"messageId" : "m-2"}`)},
		kafka.Message{Value: []byte(`{"type":"track","messageId":"m\u002d4"}`)},
		kafka.Message{Key: []byte("user-8"), Value: []byte(`{"properties":{"messageId":"m-3"},"note":"\"messageId\":\"m-3\""}`)},
		kafka.Message{Key: []byte("user-9"), Value: []byte(`[{"messageId":"m-5"}]`)},
		kafka.Message{Key: []byte("user-10"), Value: []byte(`{"messageId":7}`)},
	)
	syncTap(t, tap)
	for key, want := range map[string]int{"m-2": 1, "m-4": 1, "m-3": 0, "m-5": 0, "7": 1} {
		if got := tap.Sightings(key); len(got) != want {
			t.Errorf("%s: %d sightings, want %d: %+v", key, len(got), want, got)
		}
	}
}

// Records of keys nobody watches are read and counted, and nothing of them
// is kept.
func TestUnwatchedNotKept(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 4)
	prom := metrics.NewHandler()
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}, Stats: stats.NewEngine("orbital", prom)})
	watch(t, tap, "watched")
	const n = 2000
	msgs := make([]kafka.Message, 0, n+1)
	for i := range n {
		id := "unwatched-" + strconv.Itoa(i)
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: []byte(`{"messageId":"` + id + `","pad":"` + strings.Repeat("x", 200) + `"}`)})
	}
	msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(`{"messageId":"watched"}`)})
	produce(t, newWriter(t, brokers, events), msgs...)
	syncTap(t, tap)
	for i := range n {
		if s := tap.Sightings("unwatched-" + strconv.Itoa(i)); s != nil {
			t.Fatalf("unwatched key %d kept: %+v", i, s)
		}
	}
	if s := tap.Sightings("watched"); len(s) != 1 {
		t.Errorf("watched: %+v", s)
	}
	got := scrape(t, prom)
	wantSample(t, got, `orbital_tap_records_total{topic="`+events+`"}`, n+1)
	wantSample(t, got, `orbital_tap_sightings_total{topic="`+events+`"}`, 1)
	wantSample(t, got, `orbital_tap_pending_keys`, 1)
}

// One key written 50 times keeps its first MaxSightingsPerKey sightings;
// the rest are counted.
func TestCapPerKey(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 1)
	prom := metrics.NewHandler()
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}, Stats: stats.NewEngine("orbital", prom)})
	watch(t, tap, "hot")
	msgs := make([]kafka.Message, 50)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("hot"), Value: []byte("{}")}
	}
	produce(t, newWriter(t, brokers, events), msgs...)
	syncTap(t, tap)
	got := tap.Sightings("hot")
	if len(got) != kafkatap.DefaultMaxSightingsPerKey {
		t.Fatalf("%d sightings kept, want %d", len(got), kafkatap.DefaultMaxSightingsPerKey)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Offset != got[0].Offset+int64(i) {
			t.Errorf("sightings not the first ones in order: offsets %d then %d", got[0].Offset, got[i].Offset)
		}
	}
	if d := tap.Dropped("hot"); d != 50-kafkatap.DefaultMaxSightingsPerKey {
		t.Errorf("Dropped = %d, want %d", d, 50-kafkatap.DefaultMaxSightingsPerKey)
	}
	wantSample(t, scrape(t, prom), `orbital_tap_dropped_total{reason="per_key"}`, 50-kafkatap.DefaultMaxSightingsPerKey)
}

// Beyond MaxKeys pending keys Watch returns ErrFull; Forget makes room.
func TestMaxKeys(t *testing.T) {
	prom := metrics.NewHandler()
	tap, err := kafkatap.New(kafkatap.Config{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, MaxKeys: 3,
		Stats: stats.NewEngine("orbital", prom)})
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	watch(t, tap, "a", "b", "c", "a")
	if err := tap.Watch("d"); err != kafkatap.ErrFull {
		t.Fatalf("fourth key: %v, want ErrFull", err)
	}
	tap.Forget("a")
	watch(t, tap, "d")
	if err := tap.Watch("e"); !errors.Is(err, kafkatap.ErrFull) {
		t.Fatalf("after Forget and a new key: %v, want ErrFull", err)
	}
	if err := tap.Watch(""); err == nil {
		t.Error("Watch of an empty key succeeded")
	}
	got := scrape(t, prom)
	wantSample(t, got, `orbital_tap_dropped_total{reason="keys_full"}`, 2)
	wantSample(t, got, `orbital_tap_pending_keys`, 3)
}

// Forget drops a key's sightings; records read while it is not pending are
// not kept for it when it is watched again.
func TestForget(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 1)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}})
	w := newWriter(t, brokers, events)
	watch(t, tap, "f")
	produce(t, w, kafka.Message{Key: []byte("f"), Value: []byte("{}")})
	syncTap(t, tap)
	if len(tap.Sightings("f")) != 1 {
		t.Fatalf("before Forget: %+v", tap.Sightings("f"))
	}
	tap.Forget("f")
	tap.Forget("never-watched")
	if s := tap.Sightings("f"); s != nil {
		t.Errorf("after Forget: %+v", s)
	}
	produce(t, w, kafka.Message{Key: []byte("f"), Value: []byte("{}")})
	syncTap(t, tap)
	watch(t, tap, "f")
	if s := tap.Sightings("f"); s != nil || tap.Dropped("f") != 0 {
		t.Errorf("watched again: %+v, dropped %d", s, tap.Dropped("f"))
	}
}

// After a write returned, Sync returns only once the tap has read it,
// whichever partition it went to.
func TestSync(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 4)
	other := newTopic(t, brokers, "other", "", 2)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events, other}, MaxSightingsPerKey: 100})
	w := newWriter(t, brokers, events)
	watch(t, tap, "s")
	for i := range 30 {
		produce(t, w, kafka.Message{Key: []byte("s-" + strconv.Itoa(i)), Value: []byte(`{"messageId":"s"}`)})
		syncTap(t, tap)
		if got := len(tap.Sightings("s")); got != i+1 {
			t.Fatalf("after write %d and Sync: %d sightings", i+1, got)
		}
	}
	parts := map[int]bool{}
	for _, s := range tap.Sightings("s") {
		parts[s.Partition] = true
	}
	if len(parts) < 2 {
		t.Errorf("all on partitions %v; the test wants several", parts)
	}
}

// With MinBytes above what is written the broker answers at MaxWait; Sync
// still returns once the record is read.
func TestBatchedFetches(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 2)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}, MinBytes: 64 << 10, MaxWait: 100 * time.Millisecond})
	watch(t, tap, "b-1")
	produce(t, newWriter(t, brokers, events), kafka.Message{Key: []byte("b-1"), Value: []byte("{}")})
	syncTap(t, tap)
	if got := tap.Sightings("b-1"); len(got) != 1 {
		t.Fatalf("after Sync: %+v", got)
	}
}

// Headers kept over all sightings stay within MaxHeaderMemory: beyond it a
// sighting is kept without them; Forget gives the room back. A long
// header name is cut as a value is.
func TestHeaderMemoryCap(t *testing.T) {
	brokers := broker(t)
	dlq := newTopic(t, brokers, "events", ".dlq", 1)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{dlq}, MaxHeaderMemory: 800})
	w := newWriter(t, brokers, dlq)
	long := strings.Repeat("n", 300)
	rec := func(key string) kafka.Message {
		return kafka.Message{Key: []byte(key), Value: []byte("{}"), Headers: []kafka.Header{{Key: long, Value: []byte("v")}}}
	}
	watch(t, tap, "h-1", "h-2", "h-3")
	produce(t, w, rec("h-1"), rec("h-2"))
	syncTap(t, tap)
	first, second := tap.Sightings("h-1"), tap.Sightings("h-2")
	if len(first) != 1 || first[0].Headers[long[:kafkatap.MaxHeaderBytes]] != "v" || len(first[0].Headers) != 1 {
		t.Errorf("first: %+v, want its header under its name cut to %d bytes", first, kafkatap.MaxHeaderBytes)
	}
	if len(second) != 1 || !second[0].DeadLetter || second[0].Headers != nil {
		t.Errorf("second, beyond MaxHeaderMemory: %+v, want a dead letter without headers", second)
	}
	tap.Forget("h-1")
	produce(t, w, rec("h-3"))
	syncTap(t, tap)
	if third := tap.Sightings("h-3"); len(third) != 1 || len(third[0].Headers) != 1 {
		t.Errorf("after Forget freed the room: %+v", third)
	}
}
