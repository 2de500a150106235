package status

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/orbital-e2e/orbital/orbital"
)

// TestStoreAccounting checks the byte and count bookkeeping of the store
// against a recount after every report, through ring overwrites, log
// trimming and case eviction.
func TestStoreAccounting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newStore(8, 5, 300, 2000)
	registered := func() map[string]bool { return map[string]bool{"c0": true} }
	now := time.Unix(1_900_000_000, 0)
	for i := range 5000 {
		r := orbital.Result{
			Case:    fmt.Sprint("c", rng.IntN(9)),
			TraceID: fmt.Sprint(i),
			Outcome: []orbital.Outcome{orbital.Pass, orbital.Fail, orbital.Skip}[rng.IntN(3)],
			Output:  strings.Repeat("é", rng.IntN(400)),
			Error:   strings.Repeat("x", rng.IntN(6000)),
		}
		s.add(r, "", now, now, registered)
		bytes, live := 0, 0
		for _, e := range s.cases {
			for j := range e.runs {
				if n := e.runs[j].budgeted(); e.runs[j].seq != 0 && n > 0 {
					bytes += n
					live++
				}
			}
		}
		if bytes != s.logBytes || live != s.live {
			t.Fatalf("after %d reports: logBytes %d live %d, recount %d %d", i+1, s.logBytes, s.live, bytes, live)
		}
		if s.logBytes > s.maxLogBytes || len(s.cases) > s.maxCases || len(s.logQueue) > 2*s.live+65 {
			t.Fatalf("after %d reports: bounds exceeded: bytes %d cases %d queue %d", i+1, s.logBytes, len(s.cases), len(s.logQueue))
		}
	}
	if s.cases["c0"] == nil {
		t.Error("the registered case was evicted")
	}
}

// TestTimingsSize pins the memory the README and doc state: 288 bytes of
// histograms per time bucket that saw a timed run, 156 buckets per case.
func TestTimingsSize(t *testing.T) {
	if got := unsafe.Sizeof(timings{}); got != 288 {
		t.Errorf("timings is %d bytes, the docs say 288", got)
	}
}
