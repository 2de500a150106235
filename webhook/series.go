package webhook

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/stats/v4"
)

// series is one metric series that is measured on every delivery
// (webhook.received_total, webhook.matched_total, webhook.pending_keys). It
// hands the engine's handler the measure that Engine.Add or Engine.Set would
// build, with the same name, field, tags and time, but builds the name and
// tags once instead of on every call (a string concatenation and a tag copy
// that cost as much as the handler itself). The rare series go through the
// engine. A nil *series measures nothing. Safe for concurrent use.
//
// When the engine's handler runs functions before it is read (a
// scrapeHooker: orbital/metrics' Prometheus handler), the series does not
// hand it a measure per call: a counter adds to an atomic and a gauge stores
// its value, and the handler gets the sum of the adds and the last value set
// just before each scrape. A scrape sees every add and set made before it,
// as it would measure by measure, for a few atomic operations per call
// instead of the handler's locks and map lookups. Under any other handler
// (a statsd client, stats.MultiHandler, statstest) every call is a measure.
type series struct {
	eng   *stats.Engine // its Handler is read on each call, as the engine does
	name  string        // engine prefix + measure name
	field string
	tags  []stats.Tag // engine tags + the series' tags, sorted
	bufs  sync.Pool   // *measureBuf

	batched bool         // measures are handed over at each scrape (flush)
	counted atomic.Int64 // batched counter: added since the last flush
	value   atomic.Int64 // batched gauge: the last value set
	dirty   atomic.Bool  // batched gauge: set since the last flush

	read    func() int64 // batched series read at each flush (newGaugeReading, newCounterReading)
	counter bool         // read gives a counter's total, not a gauge's value
	flushed int64        // what read gave at the last flush (guarded by the handler's scrapes running one at a time)
	once    bool         // flushed holds a value
}

// scrapeHooker is a stats.Handler that runs functions before each read of
// its measures (orbital/metrics.Handler.OnScrape).
type scrapeHooker interface {
	stats.Handler
	OnScrape(func())
}

// measureBuf is the storage of one call's measure; the handler must not
// retain it (stats.Handler's contract), so it is reused.
type measureBuf struct {
	ms [1]stats.Measure
	fs [1]stats.Field
}

// newSeries returns the series name (as given to Engine.Add: "measure.field")
// of eng with tags, or nil when eng is nil.
func newSeries(eng *stats.Engine, name string, tags ...stats.Tag) *series {
	return newSeriesReading(eng, name, nil, false, tags...)
}

// newGaugeReading returns the gauge series name of eng, which, when batched,
// reads its value from read at each flush (handed over when it differs from
// the last one flushed) instead of keeping what set stores, and set does
// nothing: the gauge then costs nothing where its value changes. Under a
// handler that is not batched, set measures every value as newSeries'.
func newGaugeReading(eng *stats.Engine, name string, read func() int64) *series {
	return newSeriesReading(eng, name, read, false)
}

// newCounterReading returns the counter series name of eng, which, when
// batched, reads its total from read at each flush (handing over the
// increase since the last flush) instead of counting what add is given, and
// add does nothing: the caller keeps the total where it costs least (on a
// cache line it writes anyway). Under a handler that is not batched, add
// measures every call as newSeries'.
func newCounterReading(eng *stats.Engine, name string, read func() int64) *series {
	return newSeriesReading(eng, name, read, true)
}

// newSeriesReading is the series as newSeries, newGaugeReading or
// newCounterReading (counter) make it: complete before its flush is
// registered, since a scrape may run it at once, on another goroutine.
func newSeriesReading(eng *stats.Engine, name string, read func() int64, counter bool, tags ...stats.Tag) *series {
	if eng == nil {
		return nil
	}
	measure, field := "", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		measure, field = name[:i], name[i+1:]
	}
	if eng.Prefix != "" && measure != "" {
		measure = eng.Prefix + "." + measure
	} else if eng.Prefix != "" {
		measure = eng.Prefix
	}
	all := append(append([]stats.Tag(nil), eng.Tags...), tags...)
	if len(tags) != 0 && !eng.AllowDuplicateTags && !stats.TagsAreSorted(all) {
		stats.SortTags(all)
	}
	s := &series{eng: eng, name: measure, field: field, tags: all, counter: counter}
	s.bufs.New = func() any { return new(measureBuf) }
	if h, ok := eng.Handler.(scrapeHooker); ok {
		s.batched, s.read = true, read
		h.OnScrape(s.flush)
	}
	return s
}

// add adds v to the counter (Engine.Add); a counter that reads its total
// (newCounterReading) under a batched handler ignores it.
func (s *series) add(v int64) {
	if s == nil {
		return
	}
	if s.read != nil {
		return
	}
	if s.batched {
		s.counted.Add(v)
		return
	}
	s.measure(v, stats.Counter)
}

// set sets the gauge to v (Engine.Set).
func (s *series) set(v int64) {
	if s == nil {
		return
	}
	if s.read != nil {
		return
	}
	if s.batched {
		s.value.Store(v)
		s.dirty.Store(true)
		return
	}
	s.measure(v, stats.Gauge)
}

// flush hands a batched series' adds since the last flush (a counter) or
// its last value when it was set since (a gauge) to the handler. The
// handler runs it before each scrape, one scrape at a time.
func (s *series) flush() {
	if s.read != nil && s.counter {
		if v := s.read(); v != s.flushed {
			d := v - s.flushed
			s.flushed = v
			s.measure(d, stats.Counter)
		}
		return
	}
	if s.read != nil {
		if v := s.read(); !s.once || v != s.flushed {
			s.flushed, s.once = v, true
			s.measure(v, stats.Gauge)
		}
		return
	}
	if v := s.counted.Swap(0); v != 0 {
		s.measure(v, stats.Counter)
	}
	if s.dirty.Swap(false) {
		s.measure(s.value.Load(), stats.Gauge)
	}
}

func (s *series) measure(v int64, t stats.FieldType) {
	b := s.bufs.Get().(*measureBuf)
	b.fs[0] = stats.MakeField(s.field, v, t)
	b.ms[0] = stats.Measure{Name: s.name, Fields: b.fs[:], Tags: s.tags}
	s.eng.Handler.HandleMeasures(time.Now(), b.ms[:]...)
	*b = measureBuf{}
	s.bufs.Put(b)
}
