package webhook

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestShardSlotsAgainstAMap: a shard's get, put and del, driven at random
// against a plain map, with only two tags for every key (so keys with equal
// tags share the line's slots and the map): every key is found where it is,
// nowhere twice, and never after del, however slots free up and refill
// while other keys live in the map.
func TestShardSlotsAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &shard{}
	model := map[string]*entry{}
	tagOf := func(k string) uint32 { return uint32(len(k)%2)*2 + 1 } // 1 or 3
	for step := range 20000 {
		k := fmt.Sprintf("k%d", rng.IntN(12))
		if rng.IntN(2) == 0 && k[1]%2 == 0 {
			k += "x" // the other tag
		}
		if e := model[k]; e != nil && rng.IntN(2) == 0 {
			s.del(k, e)
			delete(model, k)
		} else if e == nil {
			e = &entry{key: k}
			s.put(k, tagOf(k), e)
			model[k] = e
		}
		where := map[*entry]int{}
		for i, e := range s.ents {
			if (e == nil) != (s.tags[i] == 0) {
				t.Fatalf("step %d: slot %d has tag %d and entry %v", step, i, s.tags[i], e)
			}
			if e != nil {
				where[e]++
			}
		}
		for mk, e := range s.m {
			if mk != e.key {
				t.Fatalf("step %d: map key %q holds %q's entry", step, mk, e.key)
			}
			where[e]++
		}
		if len(where) != len(model) {
			t.Fatalf("step %d: shard holds %d entries, want %d", step, len(where), len(model))
		}
		for mk, e := range model {
			if where[e] != 1 {
				t.Fatalf("step %d: %q held %d times", step, mk, where[e])
			}
			if got := s.get(mk, tagOf(mk)); got != e {
				t.Fatalf("step %d: get(%q) = %v, want its entry", step, mk, got)
			}
		}
		if s.get(k+"-absent", tagOf(k)) != nil || (model[k] == nil && s.get(k, tagOf(k)) != nil) {
			t.Fatalf("step %d: get found a key not in the shard", step)
		}
	}
}

// TestRouteLoggerAgainstAModel: Sent, Record, Delete, the clock and Len at
// random on keys crowded into few shards, against a model of which keys
// are pending and how many deliveries each holds; matched counts every
// key's first delivery once.
func TestRouteLoggerAgainstAModel(t *testing.T) {
	now := time.Unix(1e9, 0)
	const ttl = 10 * time.Second
	l := NewRouteLogger(JSONField("messageId"), WithTTL(ttl), WithGrace(time.Nanosecond),
		WithClock(func() time.Time { return now }))
	rng := rand.New(rand.NewPCG(5, 6))
	var keys []string
	for i := 0; len(keys) < 10; i++ {
		if k := fmt.Sprintf("m%d", i); len(keys) == 0 || SameShard(l, keys[0], k) || i%97 == 0 {
			keys = append(keys, k)
		}
	}
	type state struct {
		expires time.Time
		n       int
	}
	model := map[string]*state{}
	matched := int64(0)
	for step := range 5000 {
		k := keys[rng.IntN(len(keys))]
		switch op := rng.IntN(10); {
		case op < 3:
			err := l.Sent(k)
			if (err != nil) != (model[k] != nil) {
				t.Fatalf("step %d: Sent(%s) = %v, pending in model: %v", step, k, err, model[k] != nil)
			}
			if err == nil {
				model[k] = &state{expires: now.Add(ttl)}
			}
		case op < 6:
			l.Record(Request{Body: fmt.Sprintf(`{"messageId":%q}`, k)})
			if st := model[k]; st != nil {
				if st.n++; st.n == 1 {
					matched++
				}
			}
			now = now.Add(2 * time.Nanosecond) // past the grace: an unmatched one is never taken
		case op < 7:
			l.Delete(k)
			delete(model, k)
		case op < 9:
			now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
		default:
			if n := l.Len(); n != len(model) {
				t.Fatalf("step %d: Len = %d, want %d", step, n, len(model))
			}
		}
		for mk, st := range model {
			if !now.Before(st.expires) {
				delete(model, mk)
			}
		}
		for _, mk := range keys {
			st := model[mk]
			if got := l.Pending(mk); got != (st != nil) {
				t.Fatalf("step %d: Pending(%s) = %v, want %v", step, mk, got, st != nil)
			}
			if st != nil && len(l.Received(mk)) != min(st.n, l.cfg.maxPerKey) {
				t.Fatalf("step %d: Received(%s) has %d, want %d", step, mk, len(l.Received(mk)), st.n)
			}
		}
		if got := l.matchedTotal(); got != matched {
			t.Fatalf("step %d: matched %d, want %d", step, got, matched)
		}
	}
}
