package webhook

import (
	"strings"
	"sync"
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
type series struct {
	eng   *stats.Engine // its Handler is read on each call, as the engine does
	name  string        // engine prefix + measure name
	field string
	tags  []stats.Tag // engine tags + the series' tags, sorted
	bufs  sync.Pool   // *measureBuf
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
	s := &series{eng: eng, name: measure, field: field, tags: all}
	s.bufs.New = func() any { return new(measureBuf) }
	return s
}

// add adds v to the counter (Engine.Add).
func (s *series) add(v int64) { s.measure(v, stats.Counter) }

// set sets the gauge to v (Engine.Set).
func (s *series) set(v int64) { s.measure(v, stats.Gauge) }

func (s *series) measure(v int64, t stats.FieldType) {
	if s == nil {
		return
	}
	b := s.bufs.Get().(*measureBuf)
	b.fs[0] = stats.MakeField(s.field, v, t)
	b.ms[0] = stats.Measure{Name: s.name, Fields: b.fs[:], Tags: s.tags}
	s.eng.Handler.HandleMeasures(time.Now(), b.ms[:]...)
	*b = measureBuf{}
	s.bufs.Put(b)
}
