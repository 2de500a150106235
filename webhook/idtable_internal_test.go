package webhook

import (
	"math/rand/v2"
	"testing"
)

// TestIDTableAsAMap: idTable holds, claims, finds and forgets ids as a map
// would, through growths, long probe runs that wrap around a part's end,
// and removals from the middle of them.
func TestIDTableAsAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spread := range []uint64{8, 64, 1 << 20} { // few home slots: long runs, wrapping
		var tab idTable
		model := map[idKey]int64{}
		keys := []idKey{}
		for step := range 20000 {
			// Distinct ids in three parts only, so each one grows and fills;
			// their home slots (the low bits) among the first or the last
			// spread slots of a part.
			home := rng.Uint64N(min(spread, 1<<20))
			if rng.IntN(2) == 0 {
				home = 1<<20 - 1 - home
			}
			id := idKey{uint64(step)<<20 | home, uint64(rng.IntN(3)) << 56}
			if rng.IntN(8) == 0 && len(keys) > 0 {
				id = keys[rng.IntN(len(keys))] // set again
			}
			switch op := rng.IntN(4); {
			case op == 3:
				max := len(model) + rng.IntN(2) // full now and then
				want := idNew
				if exp, ok := model[id]; ok && exp == inFlight {
					want = idInFlight
				} else if ok {
					want = idSeen
				} else if len(model) >= max {
					want = idFull
				}
				if got := tab.claim(id, max); got != want {
					t.Fatalf("spread %d step %d: claim = %d, want %d", spread, step, got, want)
				}
				if want == idNew {
					keys = append(keys, id)
					model[id] = inFlight
				}
			case op < 2 || len(keys) == 0:
				exp := int64(rng.IntN(1000) + 1)
				if _, ok := model[id]; !ok {
					keys = append(keys, id)
				}
				model[id] = exp
				tab.set(id, exp)
			default:
				k := keys[rng.IntN(len(keys))]
				exp := model[k]
				if rng.IntN(4) == 0 {
					exp++ // not the id's expiry: kept
				} else {
					delete(model, k)
				}
				tab.deleteIf(k, exp)
			}
			if tab.n != len(model) {
				t.Fatalf("spread %d step %d: n = %d, model %d", spread, step, tab.n, len(model))
			}
		}
		for _, k := range keys {
			_, want := model[k]
			if _, got := tab.part(k).find(k); got != want {
				t.Fatalf("spread %d: find(%x) = %v, want %v", spread, k, got, want)
			}
		}
		for k, exp := range model {
			p := tab.part(k)
			if i, ok := p.find(k); !ok || p.slots[i].expires != exp {
				t.Fatalf("spread %d: %x not held until %d", spread, k, exp)
			}
		}
		for i := range tab.parts {
			p := &tab.parts[i]
			if p.n*4 > len(p.slots)*3 {
				t.Fatalf("part %d: %d ids in %d slots", i, p.n, len(p.slots))
			}
		}
	}
}
