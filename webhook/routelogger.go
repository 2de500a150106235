package webhook

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/stats/v4"
)

// Errors returned by RouteLogger; test for them with errors.Is.
var (
	// ErrNotSent: the key is not pending. It was never Sent, or it was
	// Deleted, or its TTL evicted it. Wait, WaitN and WaitNone return it at
	// once, or as soon as the key stops being pending while they block.
	ErrNotSent = errors.New("webhook: key is not pending (never sent, deleted or expired)")
	// ErrAlreadySent: Sent was called for a key that is still pending.
	ErrAlreadySent = errors.New("webhook: key is already pending")
	// ErrUnexpectedDelivery: WaitNone saw a delivery it was told should not
	// come.
	ErrUnexpectedDelivery = errors.New("webhook: unexpected delivery")
)

const numShards = 64

// RouteLogger matches deliveries to the tests waiting for them, by a key
// taken from each delivery (see JSONField and Header). It is a Logger, so a
// Webhook feeds it, and it is safe for concurrent use.
//
// A test calls Sent(key) before sending its event, Wait(ctx, key) to block
// until the delivery comes back, and Delete(key) when done. Deliveries are
// never lost between Sent and Wait; a delivery that arrives before Sent is
// kept for a grace period (WithGrace, WithMaxUnmatched,
// WithMaxUnmatchedBytes) and matched by Sent. Every delivery for a pending
// key is kept, duplicates included (up to WithMaxPerKey), so tests can
// assert exactly-once delivery with Received or WaitNone; a delivery with
// the same non-empty DeliveryID as one already kept for its key is the same
// delivery again (a retry that reached another replica's Webhook in cluster
// mode), not a duplicate: it is counted in webhook.replayed_total and
// dropped. A key nobody
// Deletes is evicted after a TTL (WithTTL). No method holds a lock while it
// blocks.
type RouteLogger struct {
	key       func(Request) string
	cfg       routeConfig
	ttl       int64 // nanoseconds
	sweepGap  int64 // nanoseconds between two sweeps of one shard
	seed      maphash.Seed
	start     time.Time // the origin of now without WithClock
	unmatched unmatchedStore
	matched   *series // webhook.matched_total (nil without stats)
	pendingG  *series // webhook.pending_keys (nil without stats)
	// pendingAll is the pending count, kept only when pendingEach: under a
	// handler that is not batched the gauge is measured at every change and
	// needs the total each time (one load, not a sum over 64 shards).
	pendingAll  atomic.Int64
	pendingEach bool
	// Each shard is allocated on its own, on lines of its own (see shard;
	// in an array they would straddle lines, each shared with a neighbour
	// the other CPU writes).
	shards [numShards]*shard
}

// shardKeys is how many keys a shard holds on its first cache line; more
// spill into its map.
const shardKeys = 3

// shard is a 128-byte object (a size class whose objects start on a
// 128-byte boundary), two cache lines. The first holds what every call
// takes, counts and looks up: the lock, the counts, and the shard's first
// keys (a closed loop keeps about one key per shard), so a call that moves
// the lock to its CPU has the key's slot with it, instead of also taking a
// map's header, control word and slot that the other CPU wrote. The second
// is read by every call and written only by sweeps and a sooner expiry.
type shard struct {
	mu sync.Mutex
	// pending is the number of keys and matched the keys of the shard that
	// got their first delivery, kept by the shard instead of counts every
	// CPU writes to.
	pending atomic.Int64
	matched atomic.Int64
	tags    [shardKeys]uint32 // keyTag of each key in ents; 0: the slot is free
	_       [4]byte
	ents    [shardKeys]*entry

	m         map[string]*entry // the keys beyond ents (nil until needed)
	nextSweep int64             // no sweep before this time (unix ns)
	minExpiry int64             // lower bound of the expiries of the shard's keys
	_         [40]byte
}

// keyTag is the part of a key's hash a shard compares before the key
// itself (never 0).
func keyTag(h uint64) uint32 { return uint32(h>>32) | 1 }

// get returns key's entry (tag: its keyTag), or nil.
func (s *shard) get(key string, tag uint32) *entry {
	for i := range s.tags {
		if s.tags[i] == tag && s.ents[i].key == key {
			return s.ents[i]
		}
	}
	return s.m[key]
}

// put adds key's entry; key is not in the shard.
func (s *shard) put(key string, tag uint32, e *entry) {
	for i := range s.tags {
		if s.tags[i] == 0 {
			s.tags[i], s.ents[i] = tag, e
			return
		}
	}
	if s.m == nil {
		s.m = make(map[string]*entry)
	}
	s.m[key] = e
}

// del removes key's entry e.
func (s *shard) del(key string, e *entry) {
	for i := range s.ents {
		if s.ents[i] == e {
			s.tags[i], s.ents[i] = 0, nil
			return
		}
	}
	delete(s.m, key)
}

// entry is one pending key. Its fields are guarded by its shard's mutex,
// also after it left the map (gone).
type entry struct {
	key     string
	reqs    []Request  // kept deliveries, first one first
	waiters *waiter    // blocked callers, lazily created
	expires int64      // unix ns
	total   uint32     // deliveries seen, including those not kept
	waited  bool       // Wait or WaitN returned reqs[0]
	gone    bool       // deleted or evicted
	one     [1]Request // reqs' storage for a key's first delivery (no allocation in Record)
}

// hasDelivery reports whether a kept delivery has delivery id id.
func (e *entry) hasDelivery(id string) bool {
	for i := range e.reqs {
		if e.reqs[i].DeliveryID == id {
			return true
		}
	}
	return false
}

// waiter is one blocked caller registered on an entry. ch has capacity 1;
// a notification that finds it full is redundant.
type waiter struct {
	ch   chan struct{}
	next *waiter
}

func (e *entry) notify() {
	for w := e.waiters; w != nil; w = w.next {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

func (e *entry) addWaiter(ch chan struct{}) *waiter {
	w := &waiter{ch: ch, next: e.waiters}
	e.waiters = w
	return w
}

func (e *entry) removeWaiter(w *waiter) {
	for p := &e.waiters; *p != nil; p = &(*p).next {
		if *p == w {
			*p = w.next
			return
		}
	}
}

// NewRouteLogger returns a RouteLogger that matches deliveries by key(r).
// A delivery whose key is empty matches nothing (it is counted as
// unmatched and dropped).
func NewRouteLogger(key func(Request) string, opts ...RouteOption) *RouteLogger {
	l := &RouteLogger{key: key, cfg: defaultRouteConfig(), seed: maphash.MakeSeed(), start: time.Now()}
	for _, o := range opts {
		o(&l.cfg)
	}
	l.ttl = int64(l.cfg.ttl)
	l.sweepGap = max(l.ttl/16, int64(time.Millisecond))
	for i := range l.shards {
		l.shards[i] = &shard{minExpiry: math.MaxInt64}
	}
	l.unmatched.init(l.cfg)
	// Every counter exists at 0 from the start, so the first duplicate or unmatched delivery
	// is an increase (a series that appears at 1 looks like no change to rate()).
	if st := l.cfg.stats; st != nil {
		l.matched = newCounterReading(st, "webhook.matched_total", l.matchedTotal)
		l.pendingG = newGaugeReading(st, "webhook.pending_keys", l.pendingTotal)
		l.pendingEach = l.pendingG.read == nil
		for _, name := range [...]string{"webhook.matched_total", "webhook.duplicate_total", "webhook.unmatched_total"} {
			st.Add(name, 0)
		}
		for _, reason := range [...]string{"expired", "overflow"} {
			st.Add("webhook.unmatched_evicted_total", 0, stats.T("reason", reason))
		}
		st.Set("webhook.pending_keys", 0)
	}
	return l
}

// shard returns key's shard and its keyTag there.
func (l *RouteLogger) shard(key string) (*shard, uint32) {
	h := maphash.String(l.seed, key)
	return l.shards[h%numShards], keyTag(h)
}

// now is the logger's time in nanoseconds, for its TTLs and grace periods
// only: the clock of WithClock as Unix time, or by default the monotonic
// time since NewRouteLogger (one clock read instead of time.Now's two, and
// immune to the wall clock being set).
func (l *RouteLogger) now() int64 {
	if l.cfg.now == nil {
		return int64(time.Since(l.start))
	}
	return l.cfg.now().UnixNano()
}

func (l *RouteLogger) incr(name string, tags ...stats.Tag) {
	if l.cfg.stats != nil {
		l.cfg.stats.Incr(name, tags...)
	}
}

func (l *RouteLogger) add(name string, n int, tags ...stats.Tag) {
	if l.cfg.stats != nil && n > 0 {
		l.cfg.stats.Add(name, n, tags...)
	}
}

// sumShards is the sum of one count over the shards.
func (l *RouteLogger) sumShards(count func(*shard) *atomic.Int64) int64 {
	var n int64
	for _, s := range l.shards {
		n += count(s).Load()
	}
	return n
}

// pendingTotal is the number of pending keys, some maybe past their TTL.
func (l *RouteLogger) pendingTotal() int64 {
	return l.sumShards(func(s *shard) *atomic.Int64 { return &s.pending })
}

// matchedTotal is the number of keys that got their first delivery.
func (l *RouteLogger) matchedTotal() int64 {
	return l.sumShards(func(s *shard) *atomic.Int64 { return &s.matched })
}

// addPending counts d keys into s (out of it when negative).
func (l *RouteLogger) addPending(s *shard, d int64) {
	s.pending.Add(d)
	if l.pendingEach {
		l.pendingAll.Add(d)
	}
}

// gauge measures webhook.pending_keys, unless the series reads it at each
// scrape itself (or there are no stats).
func (l *RouteLogger) gauge() {
	if l.pendingEach {
		l.pendingG.set(l.pendingAll.Load())
	}
}

// lookupLocked returns the live entry for key, evicting it if expired.
func (l *RouteLogger) lookupLocked(s *shard, tag uint32, key string, now int64) *entry {
	e := s.get(key, tag)
	if e != nil && e.expires <= now {
		l.removeLocked(s, key, e)
		return nil
	}
	return e
}

func (l *RouteLogger) removeLocked(s *shard, key string, e *entry) {
	s.del(key, e)
	e.gone = true
	e.notify()
	l.addPending(s, -1)
}

// sweepLocked evicts expired entries when one may be due, at most once per
// sweepGap, so the cost is bounded and amortised over the shard's calls.
// Len forces it (force) so its count is exact.
func (l *RouteLogger) sweepLocked(s *shard, now int64, force bool) bool {
	if now < s.minExpiry || (now < s.nextSweep && !force) {
		return false
	}
	lowest := int64(math.MaxInt64)
	for _, e := range s.ents {
		if e == nil {
			continue
		}
		if e.expires <= now {
			l.removeLocked(s, e.key, e)
		} else if e.expires < lowest {
			lowest = e.expires
		}
	}
	for k, e := range s.m {
		if e.expires <= now {
			l.removeLocked(s, k, e)
		} else if e.expires < lowest {
			lowest = e.expires
		}
	}
	s.minExpiry = lowest
	s.nextSweep = now + l.sweepGap
	return true
}

// Sent declares a key the caller is about to wait for. It returns an error
// wrapping ErrAlreadySent if the key is still pending, and an error for the
// empty key. Deliveries for key received up to the grace period before Sent
// are matched now.
func (l *RouteLogger) Sent(key string) error {
	if key == "" {
		return errors.New("webhook: Sent: empty key")
	}
	now := l.now()
	s, tag := l.shard(key)
	s.mu.Lock()
	swept := l.sweepLocked(s, now, false)
	if l.lookupLocked(s, tag, key, now) != nil {
		s.mu.Unlock()
		return fmt.Errorf("webhook: Sent %q: %w", key, ErrAlreadySent)
	}
	e := &entry{key: key, expires: now + l.ttl}
	e.reqs = e.one[:0]
	var total int
	if l.unmatched.count.Load() > 0 {
		var early []Request
		if early, total = l.unmatched.take(key, now, l.cfg.maxPerKey); total > 0 {
			e.reqs = early
			e.total = uint32(total)
			s.matched.Add(1)
		}
	}
	s.put(key, tag, e)
	if e.expires < s.minExpiry {
		s.minExpiry = e.expires
	}
	l.addPending(s, 1)
	s.mu.Unlock()
	if total > 0 {
		l.matched.add(1)
		l.add("webhook.duplicate_total", total-1)
	}
	if swept || l.cfg.stats != nil {
		l.gauge()
	}
	return nil
}

// Record files a delivery under its key. It never blocks on waiters.
func (l *RouteLogger) Record(r Request) {
	key := l.key(r)
	if key == "" {
		l.incr("webhook.unmatched_total")
		return
	}
	now := l.now()
	s, tag := l.shard(key)
	s.mu.Lock()
	l.sweepLocked(s, now, false)
	if e := l.lookupLocked(s, tag, key, now); e != nil {
		if r.DeliveryID != "" && e.hasDelivery(r.DeliveryID) {
			// The same delivery again (a transport retry that reached
			// another replica's webhook, relayed here): not a duplicate.
			s.mu.Unlock()
			l.incr("webhook.replayed_total")
			return
		}
		e.total++
		if len(e.reqs) < l.cfg.maxPerKey {
			e.reqs = append(e.reqs, r)
		}
		first := e.total == 1
		if first {
			s.matched.Add(1)
		}
		e.notify()
		s.mu.Unlock()
		if first {
			l.matched.add(1) // unless it reads the shards' counts
		} else {
			l.incr("webhook.duplicate_total")
		}
		return
	}
	// Held under the shard lock so that a concurrent Sent of the same key
	// either sees it here or was already pending above.
	expired, overflow := l.unmatched.add(key, r, now)
	s.mu.Unlock()
	l.incr("webhook.unmatched_total")
	l.add("webhook.unmatched_evicted_total", expired, stats.T("reason", "expired"))
	l.add("webhook.unmatched_evicted_total", overflow, stats.T("reason", "overflow"))
}

// Wait blocks until key has a delivery and returns the first one, or until
// ctx ends (an error wrapping ctx.Err()). It returns an error wrapping
// ErrNotSent at once if key is not pending, or as soon as it stops being
// pending (Delete, TTL) without a delivery.
func (l *RouteLogger) Wait(ctx context.Context, key string) (Request, error) {
	s, tag := l.shard(key)
	s.mu.Lock()
	e, r, ok, err := l.firstLocked(s, tag, key, "Wait")
	if ok || err != nil {
		s.mu.Unlock()
		return r, err
	}
	w := e.addWaiter(make(chan struct{}, 1))
	s.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			e.removeWaiter(w)
			s.mu.Unlock()
			return Request{}, fmt.Errorf("webhook: Wait %q: %w", key, ctx.Err())
		case <-w.ch:
		}
		s.mu.Lock()
		if len(e.reqs) > 0 {
			e.removeWaiter(w)
			e.waited = true
			r := e.reqs[0]
			s.mu.Unlock()
			return r, nil
		}
		if e.gone {
			e.removeWaiter(w)
			s.mu.Unlock()
			return Request{}, fmt.Errorf("webhook: Wait %q: %w", key, ErrNotSent)
		}
		s.mu.Unlock()
	}
}

// firstLocked is the first look of Wait (named op in errors): key's first
// delivery and true when it has one (marking it waited for), an error
// wrapping ErrNotSent when key is not pending, otherwise its entry to wait
// on. Called with s.mu held.
func (l *RouteLogger) firstLocked(s *shard, tag uint32, key, op string) (*entry, Request, bool, error) {
	e := l.lookupLocked(s, tag, key, l.now())
	if e == nil {
		return nil, Request{}, false, fmt.Errorf("webhook: %s %q: %w", op, key, ErrNotSent)
	}
	if len(e.reqs) == 0 {
		return e, Request{}, false, nil
	}
	e.waited = true
	return e, e.reqs[0], true, nil
}

// first is firstLocked taking the shard's lock, without the entry.
func (l *RouteLogger) first(key, op string) (Request, bool, error) {
	s, tag := l.shard(key)
	s.mu.Lock()
	_, r, ok, err := l.firstLocked(s, tag, key, op)
	s.mu.Unlock()
	return r, ok, err
}

// WaitN blocks until n distinct keys among keys have a delivery and returns
// the first delivery of each, in the order WaitN observed them. It counts
// keys, not deliveries: a duplicate for one key never stands in for another
// key, so after WaitN(ctx, len(keys), keys...) every key has arrived at
// least once (check Received per key for exactly-once). Repeated keys count
// once; n larger than the number of distinct keys is an error; n <= 0
// returns nothing at once (ErrNotSent still, if a key is not pending).
//
// It returns an error wrapping ErrNotSent at once if any key is not
// pending, or as soon as one stops being pending without a delivery. When
// ctx ends it returns the deliveries found so far with an error wrapping
// ctx.Err().
func (l *RouteLogger) WaitN(ctx context.Context, n int, keys ...string) ([]Request, error) {
	if n <= 0 {
		now := l.now()
		for _, k := range keys {
			s, tag := l.shard(k)
			s.mu.Lock()
			e := l.lookupLocked(s, tag, k, now)
			s.mu.Unlock()
			if e == nil {
				return nil, fmt.Errorf("webhook: WaitN %q: %w", k, ErrNotSent)
			}
		}
		return nil, nil
	}
	uniq := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			uniq = append(uniq, k)
		}
	}
	if n > len(uniq) {
		return nil, fmt.Errorf("webhook: WaitN: n=%d but only %d distinct keys", n, len(uniq))
	}

	type slot struct {
		s    *shard
		e    *entry
		w    *waiter
		done bool
	}
	slots := make([]slot, len(uniq))
	ch := make(chan struct{}, 1)
	release := func() {
		for i := range slots {
			if sl := &slots[i]; sl.w != nil {
				sl.s.mu.Lock()
				sl.e.removeWaiter(sl.w)
				sl.s.mu.Unlock()
			}
		}
	}
	now := l.now()
	for i, k := range uniq {
		s, tag := l.shard(k)
		s.mu.Lock()
		e := l.lookupLocked(s, tag, k, now)
		if e == nil {
			s.mu.Unlock()
			release()
			return nil, fmt.Errorf("webhook: WaitN %q: %w", k, ErrNotSent)
		}
		slots[i] = slot{s: s, e: e, w: e.addWaiter(ch)}
		s.mu.Unlock()
	}
	defer release()

	out := make([]Request, 0, n)
	for {
		for i := range slots {
			sl := &slots[i]
			if sl.done {
				continue
			}
			sl.s.mu.Lock()
			if len(sl.e.reqs) > 0 {
				sl.done = true
				sl.e.waited = true
				out = append(out, sl.e.reqs[0])
			} else if sl.e.gone {
				sl.s.mu.Unlock()
				return out, fmt.Errorf("webhook: WaitN %q: %w", uniq[i], ErrNotSent)
			}
			sl.s.mu.Unlock()
			if len(out) == n {
				return out, nil
			}
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("webhook: WaitN: %d of %d keys arrived: %w", len(out), n, ctx.Err())
		case <-ch:
		}
	}
}

// WaitNone returns nil if key receives no delivery beyond the first one
// that Wait or WaitN already returned (no delivery at all if neither
// returned one) within d. Deliveries received before the call count: a
// duplicate that arrived between Wait and WaitNone is reported at once.
// So after Wait returned the first delivery, WaitNone(ctx, key, d) asserts
// that no second delivery arrives; without a Wait it asserts that nothing
// arrives at all.
//
// It returns an error wrapping ErrUnexpectedDelivery as soon as such a
// delivery is seen, ErrNotSent if key is not pending (or stops being
// pending), and an error wrapping ctx.Err() if ctx ends before d.
func (l *RouteLogger) WaitNone(ctx context.Context, key string, d time.Duration) error {
	s, tag := l.shard(key)
	s.mu.Lock()
	e := l.lookupLocked(s, tag, key, l.now())
	if e == nil {
		s.mu.Unlock()
		return fmt.Errorf("webhook: WaitNone %q: %w", key, ErrNotSent)
	}
	check := func() error { // with s.mu held
		allowed := uint32(0)
		if e.waited {
			allowed = 1
		}
		if e.total > allowed {
			return fmt.Errorf("webhook: WaitNone %q: %d deliveries, %d expected: %w", key, e.total, allowed, ErrUnexpectedDelivery)
		}
		if e.gone {
			return fmt.Errorf("webhook: WaitNone %q: %w", key, ErrNotSent)
		}
		return nil
	}
	if err := check(); err != nil {
		s.mu.Unlock()
		return err
	}
	w := e.addWaiter(make(chan struct{}, 1))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		e.removeWaiter(w)
		s.mu.Unlock()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhook: WaitNone %q: %w", key, ctx.Err())
		case <-timer.C:
			return nil
		case <-w.ch:
		}
		s.mu.Lock()
		err := check()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Received returns a copy of every delivery kept so far for key, in
// arrival order, duplicates included (up to WithMaxPerKey). It returns nil
// if key is not pending.
func (l *RouteLogger) Received(key string) []Request {
	s, tag := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := l.lookupLocked(s, tag, key, l.now())
	if e == nil || len(e.reqs) == 0 {
		return nil
	}
	return append([]Request(nil), e.reqs...)
}

// Delete forgets key: it is no longer pending, and callers blocked on it
// return ErrNotSent. Later deliveries for it are unmatched. Deleting a key
// that is not pending does nothing.
func (l *RouteLogger) Delete(key string) {
	s, tag := l.shard(key)
	s.mu.Lock()
	e := s.get(key, tag)
	if e != nil {
		l.removeLocked(s, key, e)
	}
	s.mu.Unlock()
	if e != nil && l.cfg.stats != nil {
		l.gauge()
	}
}

// Len returns the number of keys currently pending (Sent, not Deleted, not
// expired).
func (l *RouteLogger) Len() int {
	now := l.now()
	for i := range l.shards {
		s := l.shards[i]
		s.mu.Lock()
		l.sweepLocked(s, now, true)
		s.mu.Unlock()
	}
	n := l.pendingTotal()
	l.gauge()
	return int(n)
}
