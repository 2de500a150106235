package kafkatap

import (
	"time"

	"github.com/segmentio/stats/v4"
)

// dropReasons are the values of tap.dropped_total's reason label.
var dropReasons = []string{"per_key", "keys_full", "headers"}

// zeroSeries creates every labelled series at 0 (or its value).
func (t *Tap) zeroSeries() {
	e := t.cfg.Stats
	if e == nil {
		return
	}
	counts := map[string]int{}
	tags := map[string]stats.Tag{}
	for _, p := range t.parts {
		counts[p.topic]++
		tags[p.topic] = p.tag
	}
	for _, topic := range t.cfg.Topics {
		tag := tags[topic]
		e.Add("tap.records_total", 0, tag)
		e.Add("tap.sightings_total", 0, tag)
		e.Add("tap.errors_total", 0, tag)
		e.Set("tap.partitions", counts[topic], tag)
	}
	for _, r := range dropReasons {
		e.Add("tap.dropped_total", 0, stats.T("reason", r))
	}
	t.mu.Lock()
	e.Set("tap.pending_keys", len(t.keys))
	t.mu.Unlock()
}

// flushLoop adds the record counts to Stats every flushEvery until Close.
func (t *Tap) flushLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			t.flush()
		}
	}
}

// flush adds the records read since the last flush to tap.records_total,
// keeping the engine (a lock, tag hashing) off the per-record path.
func (t *Tap) flush() {
	e := t.cfg.Stats
	if e == nil {
		return
	}
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	for _, p := range t.parts {
		n := p.records.Load()
		if d := n - p.reported; d > 0 {
			e.Add("tap.records_total", d, p.tag)
			p.reported = n
		}
	}
}

func (t *Tap) incr(name string, tags ...stats.Tag) {
	if t.cfg.Stats != nil {
		t.cfg.Stats.Incr(name, tags...)
	}
}

// padded returns a copy of s with one spare byte after it. The stats/v4
// Prometheus handler hashes label values with segmentio/fasthash, which steps
// a pointer one past the end of an even-length string; when the string ends
// exactly where its allocation ends, the race detector's checkptr aborts the
// process. Label values made from the caller's strings are padded so that
// cannot happen (as package kafkasource does).
func padded(s string) string {
	return (s + "\x00")[:len(s)]
}
