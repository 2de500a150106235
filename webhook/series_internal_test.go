package webhook

import (
	"reflect"
	"testing"

	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"
)

// TestSeriesMeasuresAsTheEngine: a series hands the handler exactly the
// measures Engine.Add and Engine.Set build (name, field, value, type, tags),
// whatever the engine's prefix and tags and the series' own tags.
func TestSeriesMeasuresAsTheEngine(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		eng    []stats.Tag
		name   string
		tags   []stats.Tag
	}{
		{"orbital", nil, "webhook.received_total", nil},
		{"orbital", []stats.Tag{{Name: "replica", Value: "a"}}, "webhook.pending_keys", nil},
		{"", nil, "webhook.matched_total", nil},
		{"orbital", nil, "received_total", nil},
		{"", nil, "received_total", nil},
		{"p", []stats.Tag{{Name: "m", Value: "1"}}, "webhook.rejected_total", []stats.Tag{{Name: "z", Value: "9"}, {Name: "a", Value: "0"}}},
	} {
		var viaEngine, viaSeries statstest.Handler
		engA := stats.NewEngine(tc.prefix, &viaEngine, tc.eng...)
		engB := stats.NewEngine(tc.prefix, &viaSeries, tc.eng...)
		// The engine's once-only version measures come first, as the
		// constructors' zero Adds trigger them before any series is used.
		engA.Add("warm.up", 0)
		engB.Add("warm.up", 0)
		viaEngine.Clear()
		viaSeries.Clear()
		engA.Add(tc.name, 3, tc.tags...)
		engA.Set(tc.name, 7, tc.tags...)
		s := newSeries(engB, tc.name, tc.tags...)
		s.add(3)
		s.set(7)
		got, want := viaSeries.Measures(), viaEngine.Measures()
		if len(want) != 2 {
			t.Fatalf("engine measures: %v", want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v:\nseries: %v\nengine: %v", tc, got, want)
		}
	}
	if newSeries(nil, "webhook.received_total") != nil {
		t.Fatal("newSeries(nil) is not nil")
	}
	var none *series
	none.add(1) // does nothing, no panic
}

// eagerHooker is a batched handler whose scrape comes at once after each
// OnScrape, before the producer that registered returns: a scrape may land
// at any moment after a series registered its flush.
type eagerHooker struct{ statstest.Handler }

func (h *eagerHooker) OnScrape(f func()) { f() }

// TestCounterReadingCompleteWhenRegistered: a counter that reads its total
// is a counter from the moment its flush is registered: a scrape right
// then hands over no gauge under its name (and reads no field the
// constructor is still writing).
func TestCounterReadingCompleteWhenRegistered(t *testing.T) {
	h := &eagerHooker{}
	eng := stats.NewEngine("orbital", h)
	n := int64(0)
	newCounterReading(eng, "webhook.received_total", func() int64 { return n })
	rl := NewRouteLogger(JSONField("messageId"), WithStats(eng))
	_ = New(Config{Logger: rl, Stats: eng})
	for _, m := range h.Measures() {
		for _, f := range m.Fields {
			if f.Type() == stats.Gauge && f.Name != "pending_keys" {
				t.Errorf("%s.%s handed over as a gauge (%v)", m.Name, f.Name, f.Value)
			}
		}
	}
}
