package load

import (
	"math/bits"
	"time"
)

// subBits is the number of bits of precision kept per power of two: 2^subBits
// linear sub-buckets per octave, so a recorded value is off by at most
// 1/2^(subBits+1) (0.4%) of itself.
const subBits = 7

const (
	subCount   = 1 << subBits            // sub-buckets per octave
	linearTop  = 1 << (subBits + 1)      // values below are exact
	numBuckets = linearTop + 56*subCount // enough for every non-negative int64
)

// histogram is an HDR-like log-linear histogram of durations in nanoseconds.
// Its size is fixed (about 60 KiB) whatever is recorded. It is not safe for
// concurrent use.
type histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max time.Duration
}

// index returns the bucket of v.
func index(v uint64) int {
	if v < linearTop {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1) // >= 1
	m := v >> uint(e)                  // in [subCount, 2*subCount)
	return linearTop + (e-1)*subCount + int(m-subCount)
}

// bounds returns the smallest and largest value of bucket i.
func bounds(i int) (lo, hi uint64) {
	if i < linearTop {
		return uint64(i), uint64(i)
	}
	i -= linearTop
	e := uint(i/subCount + 1)
	m := uint64(i%subCount + subCount)
	return m << e, (m+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[index(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
}

// quantile returns the q-quantile (0 < q <= 1) of the recorded values: the
// midpoint of the bucket holding the value of rank ceil(q*n), clamped to the
// exact minimum and maximum. It returns 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bounds(i)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
