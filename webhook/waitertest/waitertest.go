// Package waitertest is the behaviour suite every implementation of the
// webhook waiter runs: the in-memory webhook.RouteLogger and the cluster
// relay, where a delivery may land on another replica and be relayed to the
// one waiting. Write the behaviour once here; run it with Run from each
// implementation's tests.
package waitertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
)

// KeyField is the JSON body field the suite puts each delivery's key in.
// The Waiter under test must match deliveries by
// webhook.JSONField(waitertest.KeyField).
const KeyField = "messageId"

// Waiter is what the suite exercises; *webhook.RouteLogger implements it.
type Waiter interface {
	Sent(key string) error
	Wait(ctx context.Context, key string) (webhook.Request, error)
	WaitN(ctx context.Context, n int, keys ...string) ([]webhook.Request, error)
	WaitNone(ctx context.Context, key string, d time.Duration) error
	Received(key string) []webhook.Request
	Delete(key string)
	Len() int
}

// Setup is one fresh implementation under test.
type Setup struct {
	// Waiter is the waiter the test talks to.
	Waiter Waiter
	// Deliver injects one delivery, as if the Webhook had received it: the
	// same instance's Record, or another replica's. It must not return
	// before a later call on Waiter can observe the delivery (Received
	// lists it if the key is pending; a later Sent matches it if not).
	// It is called from several goroutines at once.
	Deliver func(webhook.Request)
	// EarlyStaysWhereItLands says a delivery made before its key is Sent is
	// kept only where it landed (a cluster relay that routes receipts to the
	// replica waiting for them, when it lands on another replica): a later
	// Sent on Waiter does not match it, and DeliveryBeforeSent checks that
	// instead.
	EarlyStaysWhereItLands bool
}

// Delivery builds the request the suite delivers for key; n tells
// duplicates apart (it is the body's "n" field).
func Delivery(key string, n int) webhook.Request {
	return webhook.Request{
		RemoteAddr: "127.0.0.1:1",
		Method:     "POST",
		Proto:      "HTTP/1.1",
		RawURL:     "/webhook",
		Header:     map[string][]string{"Content-Type": {"application/json"}},
		Body:       fmt.Sprintf(`{%q:%q,"n":%d}`, KeyField, key, n),
		ReceivedAt: time.Now(),
	}
}

// short is how long the suite lets something not happen: WaitNone windows
// and deadlines that must expire. long bounds what must happen.
const (
	short = 50 * time.Millisecond
	long  = 10 * time.Second
)

// Run runs every behaviour against the Setups newSetup returns, one fresh
// Setup per subtest. newSetup should register its own cleanup with
// t.Cleanup.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newSetup(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s Setup)
}{
	{"DeliveryAfterSentBeforeWait", deliveryAfterSentBeforeWait},
	{"DeliveryWhileWaiting", deliveryWhileWaiting},
	{"DeliveryBeforeSent", deliveryBeforeSent},
	{"NeverSentFailsAtOnce", neverSentFailsAtOnce},
	{"SentTwice", sentTwice},
	{"DuplicatesKept", duplicatesKept},
	{"OtherKeysDoNotMatch", otherKeysDoNotMatch},
	{"ContextEnds", contextEnds},
	{"DeleteWakesWaiter", deleteWakesWaiter},
	{"DeleteAndSentAgain", deleteAndSentAgain},
	{"Len", lenCountsPending},
	{"WaitNone", waitNone},
	{"WaitNoneSeesLateDelivery", waitNoneSeesLateDelivery},
	{"WaitNBatchExactlyOnce", waitNBatchExactlyOnce},
	{"WaitNCountsKeysNotDuplicates", waitNCountsKeysNotDuplicates},
	{"WaitNErrors", waitNErrors},
	{"ConcurrentRoundTrips", concurrentRoundTrips},
}

func ctxLong(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), long)
	t.Cleanup(cancel)
	return ctx
}

func mustSent(t *testing.T, w Waiter, key string) {
	t.Helper()
	if err := w.Sent(key); err != nil {
		t.Fatalf("Sent(%q): %v", key, err)
	}
}

// wantN checks that r is the suite delivery number n for key.
func wantN(t *testing.T, r webhook.Request, key string, n int) {
	t.Helper()
	if want := Delivery(key, n).Body; r.Body != want {
		t.Fatalf("got delivery %q, want %q", r.Body, want)
	}
}

func deliveryAfterSentBeforeWait(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	s.Deliver(Delivery("k1", 1))
	r, err := s.Waiter.Wait(ctxLong(t), "k1")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wantN(t, r, "k1", 1)
}

func deliveryWhileWaiting(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	type result struct {
		r   webhook.Request
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.Waiter.Wait(ctxLong(t), "k1")
		done <- result{r, err}
	}()
	s.Deliver(Delivery("k1", 1))
	res := <-done
	if res.err != nil {
		t.Fatalf("Wait: %v", res.err)
	}
	wantN(t, res.r, "k1", 1)
}

func deliveryBeforeSent(t *testing.T, s Setup) {
	s.Deliver(Delivery("early", 1))
	mustSent(t, s.Waiter, "early")
	if s.EarlyStaysWhereItLands {
		// Deliver returned once the delivery is observable wherever it would be, so
		// a Received of 0 now is the answer, not a race.
		if got := len(s.Waiter.Received("early")); got != 0 {
			t.Fatalf("Received: %d deliveries of a key Sent after its delivery landed elsewhere, want 0", got)
		}
		return
	}
	r, err := s.Waiter.Wait(ctxLong(t), "early")
	if err != nil {
		t.Fatalf("Wait after an early delivery: %v", err)
	}
	wantN(t, r, "early", 1)
	if got := len(s.Waiter.Received("early")); got != 1 {
		t.Fatalf("Received: %d deliveries, want 1", got)
	}
}

func neverSentFailsAtOnce(t *testing.T, s Setup) {
	ctx := ctxLong(t) // a deadline far away: the error must not wait for it
	calls := []struct {
		name string
		call func() error
	}{
		{"Wait", func() error { _, err := s.Waiter.Wait(ctx, "nope"); return err }},
		{"WaitN", func() error { _, err := s.Waiter.WaitN(ctx, 1, "nope"); return err }},
		{"WaitNone", func() error { return s.Waiter.WaitNone(ctx, "nope", long) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.call()
			if !errors.Is(err, webhook.ErrNotSent) {
				t.Fatalf("%s on a never-sent key: got %v, want ErrNotSent", c.name, err)
			}
			if el := time.Since(start); el > long/2 {
				t.Fatalf("%s took %v, want at once", c.name, el)
			}
		})
	}
	if got := s.Waiter.Received("nope"); len(got) != 0 {
		t.Fatalf("Received on a never-sent key: %d deliveries", len(got))
	}
}

func sentTwice(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	if err := s.Waiter.Sent("k1"); !errors.Is(err, webhook.ErrAlreadySent) {
		t.Fatalf("second Sent: got %v, want ErrAlreadySent", err)
	}
	if got := s.Waiter.Len(); got != 1 {
		t.Fatalf("Len after a refused Sent: %d, want 1", got)
	}
}

func duplicatesKept(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "dup")
	for n := 1; n <= 3; n++ {
		s.Deliver(Delivery("dup", n))
	}
	r, err := s.Waiter.Wait(ctxLong(t), "dup")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wantN(t, r, "dup", 1)
	got := s.Waiter.Received("dup")
	if len(got) != 3 {
		t.Fatalf("Received: %d deliveries, want 3 (duplicates kept)", len(got))
	}
	for i, r := range got {
		wantN(t, r, "dup", i+1)
	}
	// Wait keeps returning the first one.
	r, err = s.Waiter.Wait(ctxLong(t), "dup")
	if err != nil {
		t.Fatalf("second Wait: %v", err)
	}
	wantN(t, r, "dup", 1)
}

func otherKeysDoNotMatch(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "a")
	mustSent(t, s.Waiter, "b")
	s.Deliver(Delivery("b", 1))
	s.Deliver(Delivery("c", 1))
	ctx, cancel := context.WithTimeout(context.Background(), short)
	defer cancel()
	if _, err := s.Waiter.Wait(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(a) with only b and c delivered: got %v, want DeadlineExceeded", err)
	}
	if got := s.Waiter.Received("a"); len(got) != 0 {
		t.Fatalf("Received(a): %d deliveries, want 0", len(got))
	}
	r, err := s.Waiter.Wait(ctxLong(t), "b")
	if err != nil {
		t.Fatalf("Wait(b): %v", err)
	}
	wantN(t, r, "b", 1)
}

func contextEnds(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), short)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			if _, err := s.Waiter.Wait(ctx, "k1"); !errors.Is(err, tt.want) {
				t.Fatalf("Wait: got %v, want %v", err, tt.want)
			}
			if _, err := s.Waiter.WaitN(ctx, 1, "k1"); !errors.Is(err, tt.want) {
				t.Fatalf("WaitN: got %v, want %v", err, tt.want)
			}
			if err := s.Waiter.WaitNone(ctx, "k1", long); !errors.Is(err, tt.want) {
				t.Fatalf("WaitNone: got %v, want %v", err, tt.want)
			}
		})
	}
	// The key is still usable after the abandoned waits.
	s.Deliver(Delivery("k1", 1))
	if _, err := s.Waiter.Wait(ctxLong(t), "k1"); err != nil {
		t.Fatalf("Wait after abandoned waits: %v", err)
	}
}

func deleteWakesWaiter(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	done := make(chan error, 1)
	go func() {
		_, err := s.Waiter.Wait(ctxLong(t), "k1")
		done <- err
	}()
	// Whether Wait starts before or after Delete, it must end with
	// ErrNotSent rather than block until its deadline.
	s.Waiter.Delete("k1")
	if err := <-done; !errors.Is(err, webhook.ErrNotSent) {
		t.Fatalf("Wait across Delete: got %v, want ErrNotSent", err)
	}
}

func deleteAndSentAgain(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	s.Deliver(Delivery("k1", 1))
	if _, err := s.Waiter.Wait(ctxLong(t), "k1"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	s.Waiter.Delete("k1")
	s.Waiter.Delete("k1") // deleting twice is harmless
	if got := s.Waiter.Received("k1"); len(got) != 0 {
		t.Fatalf("Received after Delete: %d deliveries, want 0", len(got))
	}
	if _, err := s.Waiter.Wait(ctxLong(t), "k1"); !errors.Is(err, webhook.ErrNotSent) {
		t.Fatalf("Wait after Delete: got %v, want ErrNotSent", err)
	}
	mustSent(t, s.Waiter, "k1")
	s.Deliver(Delivery("k1", 2))
	r, err := s.Waiter.Wait(ctxLong(t), "k1")
	if err != nil {
		t.Fatalf("Wait after Sent again: %v", err)
	}
	wantN(t, r, "k1", 2)
}

func lenCountsPending(t *testing.T, s Setup) {
	if got := s.Waiter.Len(); got != 0 {
		t.Fatalf("Len of a new waiter: %d", got)
	}
	for i := range 5 {
		mustSent(t, s.Waiter, "k"+strconv.Itoa(i))
	}
	s.Deliver(Delivery("k0", 1))    // matched keys stay pending until Deleted
	s.Deliver(Delivery("other", 1)) // unmatched deliveries are not keys
	if got := s.Waiter.Len(); got != 5 {
		t.Fatalf("Len after 5 Sent: %d", got)
	}
	s.Waiter.Delete("k0")
	s.Waiter.Delete("k1")
	if got := s.Waiter.Len(); got != 3 {
		t.Fatalf("Len after 2 Deletes: %d", got)
	}
}

func waitNone(t *testing.T, s Setup) {
	tests := []struct {
		name    string
		deliver int  // deliveries before WaitNone
		wait    bool // call Wait before WaitNone
		want    error
	}{
		{"nothing arrives", 0, false, nil},
		{"one arrived, nobody waited", 1, false, webhook.ErrUnexpectedDelivery},
		{"first returned by Wait, no second", 1, true, nil},
		{"duplicate before WaitNone", 2, true, webhook.ErrUnexpectedDelivery},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "none" + strconv.Itoa(i)
			mustSent(t, s.Waiter, key)
			for n := 1; n <= tt.deliver; n++ {
				s.Deliver(Delivery(key, n))
			}
			if tt.wait {
				if _, err := s.Waiter.Wait(ctxLong(t), key); err != nil {
					t.Fatalf("Wait: %v", err)
				}
			}
			err := s.Waiter.WaitNone(ctxLong(t), key, short)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("WaitNone: got %v, want %v", err, tt.want)
			}
		})
	}
}

func waitNoneSeesLateDelivery(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "k1")
	s.Deliver(Delivery("k1", 1))
	if _, err := s.Waiter.Wait(ctxLong(t), "k1"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Waiter.WaitNone(ctxLong(t), "k1", long) }()
	s.Deliver(Delivery("k1", 2)) // before or during WaitNone: both must fail it
	start := time.Now()
	if err := <-done; !errors.Is(err, webhook.ErrUnexpectedDelivery) {
		t.Fatalf("WaitNone with a duplicate: got %v, want ErrUnexpectedDelivery", err)
	}
	if el := time.Since(start); el > long/2 {
		t.Fatalf("WaitNone reported the duplicate after %v, want as soon as it arrived", el)
	}
}

func waitNBatchExactlyOnce(t *testing.T, s Setup) {
	const n = 20
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "batch" + strconv.Itoa(i)
		mustSent(t, s.Waiter, keys[i])
	}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Deliver(Delivery(k, 1))
		}()
	}
	got, err := s.Waiter.WaitN(ctxLong(t), n, keys...)
	wg.Wait()
	if err != nil {
		t.Fatalf("WaitN: %v", err)
	}
	if len(got) != n {
		t.Fatalf("WaitN returned %d deliveries, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.Body] = true
	}
	for _, k := range keys {
		if !seen[Delivery(k, 1).Body] {
			t.Fatalf("WaitN result lacks key %s", k)
		}
		if rs := s.Waiter.Received(k); len(rs) != 1 {
			t.Fatalf("Received(%s): %d deliveries, want exactly 1", k, len(rs))
		}
	}
}

func waitNCountsKeysNotDuplicates(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "a")
	mustSent(t, s.Waiter, "b")
	s.Deliver(Delivery("a", 1))
	s.Deliver(Delivery("a", 2))
	ctx, cancel := context.WithTimeout(context.Background(), short)
	defer cancel()
	got, err := s.Waiter.WaitN(ctx, 2, "a", "b")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitN(2, a, b) with two deliveries for a only: got %v, want DeadlineExceeded", err)
	}
	if len(got) != 1 {
		t.Fatalf("WaitN returned %d deliveries so far, want 1", len(got))
	}
	got, err = s.Waiter.WaitN(ctxLong(t), 1, "a", "b")
	if err != nil || len(got) != 1 {
		t.Fatalf("WaitN(1, a, b): %d deliveries, %v", len(got), err)
	}
	wantN(t, got[0], "a", 1)
}

func waitNErrors(t *testing.T, s Setup) {
	mustSent(t, s.Waiter, "a")
	ctx := ctxLong(t)
	if _, err := s.Waiter.WaitN(ctx, 1, "a", "never"); !errors.Is(err, webhook.ErrNotSent) {
		t.Fatalf("WaitN with a never-sent key: got %v, want ErrNotSent", err)
	}
	if _, err := s.Waiter.WaitN(ctx, 2, "a", "a"); err == nil {
		t.Fatal("WaitN(2) over one distinct key: want an error")
	}
	if got, err := s.Waiter.WaitN(ctx, 0, "a"); err != nil || len(got) != 0 {
		t.Fatalf("WaitN(0): %d deliveries, %v", len(got), err)
	}
	if _, err := s.Waiter.WaitN(ctx, 0, "never"); !errors.Is(err, webhook.ErrNotSent) {
		t.Fatalf("WaitN(0) with a never-sent key: got %v, want ErrNotSent", err)
	}
}

func concurrentRoundTrips(t *testing.T, s Setup) {
	const workers, each = 8, 25
	var lost atomic.Int64
	var wg, deliveries sync.WaitGroup
	defer deliveries.Wait()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxLong(t)
			for i := range each {
				key := "c" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if err := s.Waiter.Sent(key); err != nil {
					t.Errorf("Sent(%s): %v", key, err)
					return
				}
				deliveries.Add(1)
				go func() {
					defer deliveries.Done()
					s.Deliver(Delivery(key, 1))
				}()
				if _, err := s.Waiter.Wait(ctx, key); err != nil {
					lost.Add(1)
				}
				s.Waiter.Delete(key)
			}
		}()
	}
	wg.Wait()
	if n := lost.Load(); n != 0 {
		t.Fatalf("%d of %d round trips lost", n, workers*each)
	}
	if got := s.Waiter.Len(); got != 0 {
		t.Fatalf("Len after every key was deleted: %d", got)
	}
}
