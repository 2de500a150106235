// Package metrics is a ready Prometheus exposition for orbital testers: a
// stats/v4 handler for the engine given to orbital.WithStats and
// webhook.WithStats, and the http.Handler of /metrics.
//
// It does what the stats/v4 Prometheus handler leaves to its user:
//
//   - every histogram gets buckets, registered on first use: orbital's own
//     (run duration, delivery latency) and every [orbital.O.Measure] name,
//     from 5 ms to 10 minutes and +Inf (DurationBuckets);
//
//   - no sample timestamps, so Prometheus records the current value at
//     every scrape (rate() and staleness work; see internal/metrics);
//
//   - series never expire (stats/v4 drops a series after 2 minutes without
//     an update, so a case with a longer period would vanish between runs);
//
//   - values formatted as Prometheus' own client does (strconv 'g', "+Inf");
//
//   - producers of hot series may hand them over only when they are read
//     (OnScrape; the webhook's per-delivery counters and pending-keys gauge
//     do), so every scrape is exact without a measure per event.
//
//     prom := metrics.NewHandler()
//     eng := stats.NewEngine("orbital", prom)
//     svc := orbital.New(orbital.WithStats(eng))
//     mux.Handle("GET /metrics", prom)
package metrics

import (
	"net/http"
	"sync"
	"time"
	"unsafe"

	imetrics "github.com/orbital-e2e/orbital/internal/metrics"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
)

// NeverExpire is the metric timeout of a Handler: longer than any period.
const NeverExpire = 100 * 365 * 24 * time.Hour

// DurationBuckets returns the upper bounds, in seconds, of every duration
// histogram: 5 ms up to 10 minutes, ending in +Inf. 1, 5, 10, 30 and 60 s are
// always bounds, so latency objectives can be written on them.
func DurationBuckets() []float64 { return imetrics.DurationBuckets() }

// Handler collects stats/v4 measures and serves them in the Prometheus text
// format. It is a stats.Handler and an http.Handler (GET and HEAD, gzip
// when asked). It is safe for concurrent use.
type Handler struct {
	mu      sync.RWMutex // write-held while buckets grows; read-held around prom.HandleMeasures
	buckets stats.HistogramBuckets
	prom    *prometheus.Handler
	http    http.Handler
	values  []any // DurationBuckets as bucket values

	scrapeMu sync.Mutex // held while the OnScrape functions run, so they run one scrape at a time
	onScrape []func()
}

// NewHandler returns a Handler with orbital's histograms registered.
func NewHandler() *Handler {
	h := &Handler{prom: imetrics.NewHandler()}
	h.prom.MetricTimeout = NeverExpire
	h.buckets = h.prom.Buckets
	for _, b := range imetrics.DurationBuckets() {
		h.values = append(h.values, b)
	}
	h.http = imetrics.Exposition(h.prom)
	return h
}

// HandleMeasures implements stats.Handler: a histogram seen for the first
// time gets DurationBuckets before it is recorded.
func (h *Handler) HandleMeasures(t time.Time, measures ...stats.Measure) {
	if raceEnabled {
		measures = padTags(measures)
	}
	h.mu.RLock()
	missing := h.missingLocked(measures)
	h.mu.RUnlock()
	if missing {
		h.mu.Lock()
		for _, m := range measures {
			for _, f := range m.Fields {
				k := stats.Key{Measure: m.Name, Field: f.Name}
				if f.Type() == stats.Histogram && h.buckets[k] == nil {
					h.buckets.Set(m.Name+"."+f.Name, h.values...)
				}
			}
		}
		h.mu.Unlock()
	}
	h.mu.RLock()
	h.prom.HandleMeasures(t, measures...)
	h.mu.RUnlock()
}

func (h *Handler) missingLocked(measures []stats.Measure) bool {
	for _, m := range measures {
		for _, f := range m.Fields {
			if f.Type() == stats.Histogram && h.buckets[stats.Key{Measure: m.Name, Field: f.Name}] == nil {
				return true
			}
		}
	}
	return false
}

// OnScrape registers f to run before every scrape (each ServeHTTP), before the
// metrics are read: a producer that keeps hot counters or gauges to itself
// and hands them to HandleMeasures only when they are read (the webhook's
// per-delivery series do) registers its flush here, so every scrape sees
// every measure made before it. The functions run one scrape at a time, in
// the order they were registered, and may call HandleMeasures; they stay
// registered for the Handler's life.
func (h *Handler) OnScrape(f func()) {
	h.scrapeMu.Lock()
	h.onScrape = append(h.onScrape, f)
	h.scrapeMu.Unlock()
}

// scraped runs the OnScrape functions.
func (h *Handler) scraped() {
	h.scrapeMu.Lock()
	defer h.scrapeMu.Unlock()
	for _, f := range h.onScrape {
		f()
	}
}

// ServeHTTP serves the metrics (GET /metrics), after running the OnScrape
// functions.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		h.scraped()
	}
	h.http.ServeHTTP(w, r)
}

// padded returns a copy of s whose allocation extends past its end.
func padded(s string) string {
	b := make([]byte, len(s), len(s)+8)
	copy(b, s)
	return unsafe.String(unsafe.SliceData(b), len(s))
}

// padTags returns measures whose tag names and values each end one byte before the end of their
// allocation. stats/v4's Prometheus handler hashes label values with segmentio/fasthash,
// which reads a byte past the end of an even-length value; harmless in a normal build, it
// kills a -race build (checkptr: "pointer arithmetic result points to invalid allocation")
// when the value ends exactly at the end of its allocation. Only -race builds pay for this.
func padTags(measures []stats.Measure) []stats.Measure {
	out := make([]stats.Measure, len(measures))
	for i, m := range measures {
		tags := make([]stats.Tag, len(m.Tags))
		for j, tag := range m.Tags {
			tags[j] = stats.Tag{Name: padded(tag.Name), Value: padded(tag.Value)}
		}
		m.Tags = tags
		out[i] = m
	}
	return out
}
