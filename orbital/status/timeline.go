package status

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// Latency and duration histograms of a time bucket: fixed log-scale bins,
// histBins of them, the first starting at histMin, each 2^(1/3) (26%) wider
// than the one before, so the last starts at histMin * 2^((histBins-1)/3)
// (about 28 minutes); values outside are counted in the first or last bin. A
// quantile is the geometric middle of its bin: within 12% of the true value.
// Counts saturate at 65535 per bin.
const (
	histBins     = 72
	histMin      = 100 * time.Microsecond
	histPerOctet = 3
)

// hist counts durations in log-scale bins.
type hist [histBins]uint16

func histBin(d time.Duration) int {
	if d < histMin {
		return 0
	}
	i := int(math.Floor(math.Log2(float64(d)/float64(histMin)) * histPerOctet))
	return min(max(i, 0), histBins-1)
}

// binValue is the geometric middle of bin i, in seconds.
func binValue(i int) float64 {
	return histMin.Seconds() * math.Exp2((float64(i)+0.5)/histPerOctet)
}

func (h *hist) add(d time.Duration) {
	if i := histBin(d); h[i] < math.MaxUint16 {
		h[i]++
	}
}

// quantile returns the nearest-rank quantile p of h (nil when empty).
func (h *hist) quantile(p float64) *float64 {
	n := 0
	for _, c := range h {
		n += int(c)
	}
	if n == 0 {
		return nil
	}
	rank := max(1, int(math.Ceil(p*float64(n))))
	seen := 0
	for i, c := range h {
		seen += int(c)
		if seen >= rank {
			v := binValue(i)
			return &v
		}
	}
	return nil
}

// timings are the histograms of one time bucket, allocated on its first
// measured run: run duration (runs neither skipped nor inconclusive, as the
// row's quantiles) and send-to-delivery latency.
type timings struct {
	dur, lat hist
}

// TimeBucket is one time slot of a case's timeline: outcome counts with
// their pass ratio (as [Ratio]), and p50/p99 of run duration and of
// send-to-delivery latency in seconds (null without a value), computed from
// the slot's log-scale histogram (within 12%).
type TimeBucket struct {
	Start time.Time `json:"start"`
	Ratio
	DurationP50 *float64 `json:"duration_p50"`
	DurationP99 *float64 `json:"duration_p99"`
	LatencyP50  *float64 `json:"latency_p50"`
	LatencyP99  *float64 `json:"latency_p99"`
}

// Timeline is a case's time buckets as GET /api/cases/{name}/timeline
// returns it, oldest first: the 60 minutes of the last hour and the 96
// quarter-hours of the last 24 hours, the current one last.
type Timeline struct {
	Case     string       `json:"case"`
	Now      time.Time    `json:"now"`
	Minutes  []TimeBucket `json:"minutes"`
	Quarters []TimeBucket `json:"quarters"`
}

// addTimings records the duration and latency of a run in b.
func (b *bucket) addTimings(idx int64, r orbital.Result) {
	if b.idx != idx {
		return // add skipped it (older than the slot)
	}
	lat, hasLat := r.Measures[latencyMeasure]
	hasDur := r.Outcome != orbital.Skip && r.Outcome != orbital.Inconclusive
	if !hasLat && !hasDur {
		return
	}
	if b.t == nil {
		b.t = new(timings)
	}
	if hasDur {
		b.t.dur.add(r.Duration)
	}
	if hasLat {
		b.t.lat.add(lat)
	}
}

// timeline builds the TimeBuckets of ring bs ending at slot nowIdx, slots
// of width w.
func timeline(bs []bucket, nowIdx int64, w time.Duration) []TimeBucket {
	n := int64(len(bs))
	out := make([]TimeBucket, 0, n)
	for idx := nowIdx - n + 1; idx <= nowIdx; idx++ {
		tb := TimeBucket{Start: time.Unix(idx*int64(w/time.Second), 0).UTC()}
		if b := &bs[((idx%n)+n)%n]; b.idx == idx {
			tb.Ratio = ratio([]bucket{*b}, idx)
			if b.t != nil {
				tb.DurationP50, tb.DurationP99 = b.t.dur.quantile(0.50), b.t.dur.quantile(0.99)
				tb.LatencyP50, tb.LatencyP99 = b.t.lat.quantile(0.50), b.t.lat.quantile(0.99)
			}
		}
		out = append(out, tb)
	}
	return out
}

func (s *Status) handleTimeline(w http.ResponseWriter, name string) {
	now := s.now()
	s.mu.Lock()
	e := s.store.cases[name]
	tl := Timeline{Case: name, Now: now}
	if e != nil {
		tl.Minutes = timeline(e.minutes[:], minuteIndex(now), time.Minute)
		tl.Quarters = timeline(e.quarters[:], quarterIndex(now), quarter)
	}
	s.mu.Unlock()
	if e == nil {
		if _, registered := s.svc.Case(name); !registered {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown case %q", name))
			return
		}
		var empty [quarterBuckets]bucket
		tl.Minutes = timeline(empty[:minuteBuckets], minuteIndex(now), time.Minute)
		tl.Quarters = timeline(empty[:], quarterIndex(now), quarter)
	}
	writeJSON(w, http.StatusOK, tl)
}
