package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform ms", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(50 * time.Millisecond))) }},
		{"long tail", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(3*time.Millisecond)) }},
		{"tiny", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(300)) }},
		{"hours", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(5 * time.Hour))) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h histogram
			var all []time.Duration
			for range 20000 {
				d := tt.gen(r)
				h.record(d)
				all = append(all, d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(q*float64(len(all))+0.999999) - 1
				want := all[rank]
				got := h.quantile(q)
				if diff := got - want; diff < 0 && -diff > want/200+1 || diff > 0 && diff > want/200+1 {
					t.Errorf("q%.3f = %s, exact %s: off by more than 0.5%%", q, got, want)
				}
			}
			if h.max != all[len(all)-1] || h.min != all[0] {
				t.Errorf("min/max %s/%s, want %s/%s", h.min, h.max, all[0], all[len(all)-1])
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every bucket's bounds map back to it, and buckets tile the line.
	var prevHi uint64
	for i := range numBuckets {
		lo, hi := bounds(i)
		if index(lo) != i || index(hi) != i {
			t.Fatalf("bucket %d [%d,%d] indexes to %d,%d", i, lo, hi, index(lo), index(hi))
		}
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		prevHi = hi
		if hi == 1<<63-1 {
			break
		}
	}
	var h histogram
	h.record(-5)
	h.record(1<<63 - 1)
	if h.quantile(0.5) != 0 || h.quantile(1) != 1<<63-1 {
		t.Fatalf("extremes: p50 %d p100 %d", h.quantile(0.5), h.quantile(1))
	}
	if size := unsafe.Sizeof(histogram{}); size > 64<<10 {
		t.Fatalf("histogram is %d bytes; it must stay small and fixed", size)
	}
	if (&histogram{}).quantile(0.99) != 0 {
		t.Fatal("empty histogram must give 0")
	}
}
