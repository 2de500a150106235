package tests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

// The hops of a Trail, in the order an event passes them. They are the
// values of the hop label of orbital_hop_latency_seconds (docs/metrics.md).
const (
	// HopAPI is the tracking API's answer to the request that carried the
	// event. Its latency is the request's round trip.
	HopAPI = "api"
	// HopKafka is the event seen in a tapped topic that is not a dead-letter
	// topic (the pipeline's ingest topic, its output topic). Its latency runs
	// from the send to the record's Kafka timestamp.
	HopKafka = "kafka"
	// HopDeadLetter is the event seen in a dead-letter topic. Its latency
	// runs from its first Kafka record to the dead-letter record.
	HopDeadLetter = "dead_letter"
	// HopDelivery is a delivery of the event received by the webhook. Its
	// latency runs from the event's first Kafka record (without a tap: from
	// the send) to its arrival.
	HopDelivery = "delivery"
)

// HopLatency is the stats/v4 name of the per-hop latency histogram
// (orbital_hop_latency_seconds{case, hop} on an engine with the prefix orbital).
const HopLatency = "hop.latency_seconds"

// attemptHeader is the header in which the example pipeline numbers its
// delivery attempts (1 for the first).
const attemptHeader = "X-Attempt"

// Hop is one place where a run saw its event on the way through the
// pipeline.
type Hop struct {
	Name string    // HopAPI, HopKafka, HopDeadLetter or HopDelivery
	At   time.Time // the answer's arrival, the record's Kafka timestamp, the delivery's arrival
	// Latency is the hop's own time, as each Hop constant defines it (never
	// negative: a Kafka timestamp from a clock behind ours counts as 0).
	Latency time.Duration
	// Status is the API's HTTP status (HopAPI).
	Status int
	// Topic, Partition and Offset place a Kafka record (HopKafka, HopDeadLetter).
	Topic     string
	Partition int
	Offset    int64
	// Attempt is the pipeline's attempt number of a delivery (its X-Attempt
	// header; 0 when it sends none).
	Attempt int
	// Headers are a dead-letter record's headers (its error, attempts, the
	// destination's status...), as the tap kept them.
	Headers map[string]string
}

// String formats h for a run's output, e.g. "api 200 in 3ms",
// "kafka events[2]@1234 +4ms", "delivery attempt 1 +12ms".
func (h Hop) String() string {
	switch h.Name {
	case HopAPI:
		return fmt.Sprintf("api %d in %s", h.Status, round(h.Latency))
	case HopKafka, HopDeadLetter:
		s := fmt.Sprintf("%s %s +%s", h.Name, h.position(), round(h.Latency))
		if why := deadLetterReason(h.Headers); h.Name == HopDeadLetter && why != "" {
			s += " (" + why + ")"
		}
		return s
	case HopDelivery:
		if h.Attempt > 0 {
			return fmt.Sprintf("delivery attempt %d +%s", h.Attempt, round(h.Latency))
		}
		return fmt.Sprintf("delivery +%s", round(h.Latency))
	}
	return h.Name
}

// position is a Kafka record's "topic[partition]@offset".
func (h Hop) position() string { return fmt.Sprintf("%s[%d]@%d", h.Topic, h.Partition, h.Offset) }

// round rounds d for messages: to 10µs below 1ms, to the millisecond below
// 10s, to 10ms above.
func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	if d < 10*time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// apiAnswer is the API's answer to the request that carried an event.
type apiAnswer struct {
	status  int
	latency time.Duration
	at      time.Time
}

// Trail follows a run's events through the pipeline: the API's answer to
// each request, every record of them the Harness's Tap saw in the
// pipeline's Kafka topics, every delivery the Waiter received. When an
// event is not delivered, Where says where it stopped. Make one with
// [Harness.Follow]; it is safe for concurrent use.
type Trail struct {
	o        *orbital.O
	waiter   *webhook.RouteLogger
	tap      *kafkatap.Tap
	traceURL string
	ids      []string

	mu       sync.Mutex
	sent     time.Time
	api      map[string]apiAnswer
	tried    bool             // a sync was tried since the last send
	tapErr   error            // why the last sync failed
	untapped map[string]error // ids the tap could not watch (it was full), and why
}

// Follow declares ids (messageIds) on the Harness's Waiter and Tap before
// anything is sent, and returns the run's Trail. When the run ends it logs
// each event's hops in the run's output ("trail messageId X: api 200 in
// 3ms → kafka events[2]@1234 +4ms → delivery attempt 1 +12ms"), observes
// each hop's latency in orbital_hop_latency_seconds{case, hop}, and
// forgets the ids. A failed run also logs its messageIds, the webhook and,
// with Harness.TraceURL, the link to its trace. The run fails at once when
// an id cannot be declared on the Waiter; an id the Tap cannot take (it is
// full) is followed without it, and its trail says so.
func (h *Harness) Follow(o *orbital.O, ids ...string) *Trail {
	o.Helper()
	if h.Waiter == nil {
		o.Fatal("harness has no Waiter")
	}
	s := &suites{waiter: h.Waiter, tap: h.Tap, traceURL: h.TraceURL, webhookURL: redact.URL(h.WebhookURL), log: h.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s.follow(o, ids...)
}

func (s *suites) follow(o *orbital.O, ids ...string) *Trail {
	o.Helper()
	t := &Trail{o: o, waiter: s.waiter, tap: s.tap, traceURL: s.traceURL, ids: ids, api: map[string]apiAnswer{}, untapped: map[string]error{}}
	var sent, tapped []string
	o.Cleanup(func() {
		t.finish(s)
		for _, id := range sent {
			s.waiter.Delete(id)
		}
		for _, id := range tapped {
			s.tap.Forget(id)
		}
	})
	for _, id := range ids {
		if err := s.waiter.Sent(id); err != nil {
			o.Fatalf("messageId %s: declaring it on the webhook: %v", id, err)
		}
		sent = append(sent, id)
		if s.tap == nil {
			continue
		}
		if err := s.tap.Watch(id); err != nil { // orbital's own limit: the run goes on, untapped
			o.Logf("messageId %s: not followed in Kafka: %v", id, err)
			t.untapped[id] = err
			continue
		}
		tapped = append(tapped, id)
	}
	return t
}

// Sending marks the moment the run sends its events: the hops' latencies
// count from it. The suites call it right before they send.
func (t *Trail) Sending() time.Time {
	now := time.Now()
	t.mu.Lock()
	t.sent, t.tried, t.tapErr = now, false, nil
	t.mu.Unlock()
	return now
}

// sentAt is when Sending was last called (now if never).
func (t *Trail) sentAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sent.IsZero() {
		t.sent = time.Now()
	}
	return t.sent
}

// Answered records the API's answer (its HTTP status) to a request that
// carried ids, sent at start.
func (t *Trail) Answered(start time.Time, status int, ids ...string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		t.api[id] = apiAnswer{status: status, latency: now.Sub(start), at: now}
	}
}

// Hops returns what the run saw of event id, in pipeline order: the API's
// answer, its Kafka records (in the order of their timestamps), its
// deliveries. It syncs the tap first (at most a second, within ctx), so a
// record written before the call is in it.
func (t *Trail) Hops(ctx context.Context, id string) []Hop {
	t.sync(ctx, time.Second)
	return t.hops(id)
}

func (t *Trail) hops(id string) []Hop {
	t.mu.Lock()
	sent := t.sent
	a, hasAPI := t.api[id]
	t.mu.Unlock()
	var out []Hop
	if hasAPI {
		out = append(out, Hop{Name: HopAPI, At: a.at, Latency: a.latency, Status: a.status})
	}
	var firstKafka time.Time
	if t.tap != nil {
		seen := t.tap.Sightings(id)
		slices.SortStableFunc(seen, func(x, y kafkatap.Sighting) int { return x.Time.Compare(y.Time) })
		var records []Hop
		for _, sg := range seen {
			h := Hop{Name: HopKafka, At: sg.Time, Topic: sg.Topic, Partition: sg.Partition, Offset: sg.Offset}
			if sg.DeadLetter {
				h.Name, h.Headers = HopDeadLetter, sg.Headers
			}
			if h.Name == HopKafka && firstKafka.IsZero() {
				firstKafka = sg.Time
			}
			records = append(records, h)
		}
		for i := range records {
			from := sent
			if records[i].Name == HopDeadLetter && !firstKafka.IsZero() {
				from = firstKafka
			}
			records[i].Latency = max(records[i].At.Sub(from), 0)
		}
		slices.SortStableFunc(records, func(x, y Hop) int { return hopOrder(x.Name) - hopOrder(y.Name) })
		out = append(out, records...)
	}
	from := sent
	if !firstKafka.IsZero() {
		from = firstKafka
	}
	for _, r := range t.waiter.Received(id) {
		n, _ := strconv.Atoi(r.Header.Get(attemptHeader))
		out = append(out, Hop{Name: HopDelivery, At: r.ReceivedAt, Latency: max(r.ReceivedAt.Sub(from), 0), Attempt: n})
	}
	return out
}

func hopOrder(name string) int {
	switch name {
	case HopAPI:
		return 0
	case HopKafka:
		return 1
	case HopDeadLetter:
		return 2
	}
	return 3
}

// sync waits for the tap to have read every record written before now, for
// at most limit and never past ctx's deadline; a failure is kept for Where,
// which then does not claim where the event was not.
func (t *Trail) sync(ctx context.Context, limit time.Duration) {
	t.mu.Lock()
	done := t.tap == nil || t.tried
	t.tried = true
	t.mu.Unlock()
	if done {
		return
	}
	d := limit
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)-20*time.Millisecond)
	}
	var err error
	if d <= 0 {
		err = errors.New("no time left to wait for it")
	} else {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
		err = t.tap.Sync(sctx)
		cancel()
	}
	t.mu.Lock()
	t.tapErr = err
	t.mu.Unlock()
}

// Where says where event id stopped, for a run that did not get its
// delivery, e.g. "accepted by the API (200 in 3ms), written to
// events[2]@1234 4ms later, never delivered: dead-lettered after 5
// attempts (destination answered 503)", or "the API answered 200 but the
// event never reached Kafka (not seen in events, events-dead-letter)".
// Without a tap it says what the HTTP side saw and that the rest is
// unknown.
func (t *Trail) Where(ctx context.Context, id string) string {
	_, where := t.locate(ctx, id)
	return where
}

// Where an undelivered event stopped, as locate classifies it.
const (
	stopUnknown     = "where unknown"
	stopBeforeKafka = "never reached Kafka"
	stopDeadLetter  = "dead-lettered"
	stopAfterKafka  = "lost between Kafka and the webhook, or still being retried"
)

// locate is Where, with the class of the place it stopped.
func (t *Trail) locate(ctx context.Context, id string) (stop, where string) {
	if !slices.Contains(t.ids, id) {
		return stopUnknown, "messageId " + id + " is not followed by this trail"
	}
	hops := t.Hops(ctx, id)
	var parts []string
	var kafka, output, dead *Hop
	for i := range hops {
		h := &hops[i]
		switch {
		case h.Name == HopAPI:
			parts = append(parts, fmt.Sprintf("accepted by the API (%d in %s)", h.Status, round(h.Latency)))
		case h.Name == HopKafka && kafka == nil:
			kafka = h
			parts = append(parts, fmt.Sprintf("written to %s %s later", h.position(), round(h.Latency)))
		case h.Name == HopKafka && output == nil:
			output = h
		case h.Name == HopDeadLetter && dead == nil:
			dead = h
		}
	}
	if why := t.blind(id); why != "" && dead == nil {
		return stopUnknown, strings.Join(append(parts, "never delivered; where it stopped is unknown ("+why+")"), ", ")
	}
	switch {
	case kafka == nil && dead == nil:
		return stopBeforeKafka, t.neverInKafka(hops)
	case dead != nil:
		stop = stopDeadLetter
		parts = append(parts, "never delivered: dead-lettered"+deadLetterSuffix(dead.Headers)+" (in "+dead.position()+")")
	case output != nil && !slices.ContainsFunc(t.tap.Topics(), kafkatap.IsDeadLetterTopic):
		stop = stopAfterKafka
		parts = append(parts, "processed (in "+output.position()+") but never delivered: its delivery failed, is still being retried, or was dead-lettered (no dead-letter topic is tapped)")
	case output != nil:
		stop = stopAfterKafka
		parts = append(parts, "processed (in "+output.position()+") but never delivered and not dead-lettered: its delivery failed or is still being retried")
	case !slices.ContainsFunc(t.tap.Topics(), kafkatap.IsDeadLetterTopic):
		stop = stopAfterKafka
		parts = append(parts, "never delivered (lost between Kafka and the webhook, still being retried, or dead-lettered: no dead-letter topic is tapped)")
	default:
		stop = stopAfterKafka
		parts = append(parts, "never delivered and not dead-lettered (lost between Kafka and the webhook, or still being retried)")
	}
	return stop, strings.Join(parts, ", ")
}

// blind says why the tap cannot tell where id stopped: there is no tap, it
// could not watch id, or it had not caught up with the topics; "" when it
// can.
func (t *Trail) blind(id string) string {
	if t.tap == nil {
		return "no Kafka tap: tap the pipeline's topics to locate it"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.untapped[id]; err != nil {
		return "not followed in Kafka: " + err.Error()
	}
	if t.tapErr == nil {
		return ""
	}
	why := t.tapErr
	if err := t.tap.Err(); err != nil { // not started (and why), or a partition it cannot read
		why = err
	}
	return "the Kafka tap had not caught up with " + strings.Join(t.tap.Topics(), ", ") + ": " + why.Error()
}

// WhereAll says where the undelivered events ids stopped: the first one's
// Where, and how many of them stopped at each place when there are more,
// e.g. "messageId X: the API answered 200 but the event never reached Kafka
// (...); 20 of 20 never reached Kafka".
func (t *Trail) WhereAll(ctx context.Context, ids ...string) string {
	if len(ids) == 0 {
		return ""
	}
	counts := map[string]int{}
	var first string
	for i, id := range ids {
		stop, where := t.locate(ctx, id)
		if i == 0 {
			first = "messageId " + id + ": " + where
		}
		counts[stop]++
	}
	if len(ids) == 1 {
		return first
	}
	var tally []string
	for _, stop := range []string{stopBeforeKafka, stopDeadLetter, stopAfterKafka, stopUnknown} {
		if n := counts[stop]; n > 0 {
			tally = append(tally, fmt.Sprintf("%d of %d %s", n, len(ids), stop))
		}
	}
	return first + "; " + strings.Join(tally, ", ")
}

// neverInKafka is Where for an event the tap, caught up, never saw.
func (t *Trail) neverInKafka(hops []Hop) string {
	topics := strings.Join(t.tap.Topics(), ", ")
	if len(hops) > 0 && hops[0].Name == HopAPI {
		return fmt.Sprintf("the API answered %d (in %s) but the event never reached Kafka (not seen in %s)",
			hops[0].Status, round(hops[0].Latency), topics)
	}
	return "the event never reached Kafka (not seen in " + topics + ")"
}

// deadLetterKeys name a dead-letter record's reason: the example pipeline's
// "error", then common conventions (Spring Kafka's DLT, Kafka Connect's
// errors.deadletterqueue.context.headers.enable).
var deadLetterKeys = []string{"error", "x-error", "kafka_dlt-exception-message", "__connect.errors.exception.message"}

// deadLetterReason is a dead-letter record's reason as its headers give it,
// cleaned (someone else's pipeline wrote it: see clean).
func deadLetterReason(h map[string]string) string {
	for _, k := range deadLetterKeys {
		if v := clean(header(h, k)); v != "" {
			return v
		}
	}
	if v := header(h, "status"); isNumber(v) {
		return "destination answered " + v
	}
	return ""
}

// deadLetterSuffix is " after 5 attempts (destination answered 503)".
func deadLetterSuffix(h map[string]string) string {
	var s string
	if n := header(h, "attempts"); n == "1" {
		s = " after 1 attempt"
	} else if isNumber(n) {
		s = " after " + n + " attempts"
	}
	if why := deadLetterReason(h); why != "" {
		s += " (" + why + ")"
	}
	return s
}

// clean makes a header value written by someone else's pipeline fit for a
// one-line message: control characters (newlines included: no fake result
// lines) become spaces, URL credentials go (redact.URLsIn), and it is cut to
// 200 bytes.
func clean(v string) string {
	v = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v))
	return truncate(redact.URLsIn(v), 200)
}

// isNumber reports whether v is a short decimal number.
func isNumber(v string) bool {
	if v == "" || len(v) > 9 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// header looks k up in h without regard to case.
func header(h map[string]string, k string) string {
	if v, ok := h[k]; ok {
		return v
	}
	for hk, v := range h {
		if strings.EqualFold(hk, k) {
			return v
		}
	}
	return ""
}

// maxTrailLines bounds how many events' trails a run logs.
const maxTrailLines = 5

// finish logs the trails, observes the hops' latencies and, for a failed
// run, says where its deliveries go and links its trace.
func (t *Trail) finish(s *suites) {
	o := t.o
	t.mu.Lock()
	sent := !t.sent.IsZero()
	t.mu.Unlock()
	if sent {
		// Only when an event's Kafka record is still missing (a delivered
		// event's record was read before its delivery, as a rule), and within
		// the run's abandon grace (at least 500ms); a failed run's Where has
		// tried already and is not retried.
		if t.missingKafka() {
			t.sync(context.Background(), 200*time.Millisecond)
		}
		t.logTrails(s)
	}
	if o.Failed() {
		o.Logf("failed run: messageIds %s; deliveries go to webhook %s", strings.Join(t.ids, ", "), s.webhookOrUnknown())
		if link := t.link(); link != "" {
			o.Logf("trace: %s", link)
		}
		s.log.Error("end-to-end run failed",
			"case", o.Name(), "trace_id", o.TraceID(),
			"message_ids", t.ids, "webhook_url", s.webhookURL)
	}
}

// missingKafka reports whether some followed event has no Kafka sighting yet.
func (t *Trail) missingKafka() bool {
	if t.tap == nil {
		return false
	}
	for _, id := range t.ids {
		if !slices.ContainsFunc(t.tap.Sightings(id), func(sg kafkatap.Sighting) bool { return !sg.DeadLetter }) {
			return true
		}
	}
	return false
}

// logTrails writes up to maxTrailLines trails (the undelivered events
// first) and observes every event's hop latencies.
func (t *Trail) logTrails(s *suites) {
	o := t.o
	ids := slices.Clone(t.ids)
	slices.SortStableFunc(ids, func(a, b string) int {
		return boolInt(len(s.waiter.Received(a)) > 0) - boolInt(len(s.waiter.Received(b)) > 0)
	})
	var behind string
	t.mu.Lock()
	if t.tapErr != nil {
		behind = " (the Kafka tap had not caught up: Kafka hops may be missing)"
	}
	t.mu.Unlock()
	shown := 0
	for _, id := range ids {
		hops := t.hops(id)
		t.observe(hops)
		if shown == maxTrailLines {
			continue
		}
		shown++
		line := make([]string, len(hops))
		for i, h := range hops {
			line[i] = h.String()
		}
		if len(line) == 0 {
			line = []string{"nothing seen"}
		}
		o.Logf("trail messageId %s: %s%s", id, strings.Join(line, " → "), behind)
	}
	if len(ids) > shown {
		o.Logf("trail: %d more messageIds not shown", len(ids)-shown)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// observe records the first hop of each kind in orbital_hop_latency_seconds.
func (t *Trail) observe(hops []Hop) {
	seen := map[string]bool{}
	for _, h := range hops {
		if seen[h.Name] {
			continue
		}
		seen[h.Name] = true
		t.o.Stats().Observe(HopLatency, h.Latency, stats.T("hop", h.Name))
	}
}

// link is the run's trace in the user's tracing UI (Harness.TraceURL).
func (t *Trail) link() string { return orbital.TraceLink(t.traceURL, t.o.TraceID()) }
