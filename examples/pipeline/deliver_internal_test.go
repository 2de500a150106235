package pipeline

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestBackoff: attempt n waits BackoffMin*2^(n-1) capped at BackoffMax,
// jittered over every value from half of it to all of it.
func TestBackoff(t *testing.T) {
	const lo, hi = 4 * time.Nanosecond, 64 * time.Nanosecond
	for _, tt := range []struct {
		lo, hi time.Duration
		n      int
		want   time.Duration // before jitter
	}{
		{lo, hi, 1, 4}, {lo, hi, 2, 8}, {lo, hi, 3, 16}, {lo, hi, 5, 64}, {lo, hi, 6, 64}, {lo, hi, 40, 64},
		{lo, lo, 3, 4}, {lo, 10, 2, 8}, {lo, 10, 3, 10},
	} {
		seen := map[time.Duration]bool{}
		for range 500 {
			d := backoff(tt.lo, tt.hi, tt.n)
			if d < tt.want/2 || d > tt.want {
				t.Fatalf("backoff(%v, %v, %d) = %v, want %v..%v", tt.lo, tt.hi, tt.n, d, tt.want/2, tt.want)
			}
			seen[d] = true
		}
		if !seen[tt.want/2] || !seen[tt.want] {
			t.Errorf("backoff(%v, %v, %d): jitter never reached %v or %v in 500 draws (%v)", tt.lo, tt.hi, tt.n, tt.want/2, tt.want, seen)
		}
	}
}

// TestStripURLError: a failed request's error loses the URL (it may hold
// credentials) but keeps the cause.
func TestStripURLError(t *testing.T) {
	err := &url.Error{Op: "Post", URL: "http://user:hunter2@dest.example/webhook", Err: io.ErrUnexpectedEOF}
	got := stripURLError(err)
	if strings.Contains(got.Error(), "hunter2") || !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Fatalf("stripURLError = %v", got)
	}
	plain := errors.New("plain")
	if stripURLError(plain) != plain {
		t.Fatal("an error without a cause changed")
	}
}

// TestBackoffBoundsDefaults: BackoffMax below BackoffMin is raised to it;
// otherwise both are kept.
func TestBackoffBoundsDefaults(t *testing.T) {
	for _, tt := range []struct{ min, max, wantMax time.Duration }{
		{time.Millisecond, time.Second, time.Second},
		{2 * time.Second, time.Second, 2 * time.Second},
		{0, 0, 5 * time.Second},
	} {
		c, err := Config{Brokers: []string{"127.0.0.1:9092"}, BackoffMin: tt.min, BackoffMax: tt.max}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if c.BackoffMax != tt.wantMax {
			t.Errorf("BackoffMin %v BackoffMax %v: BackoffMax became %v, want %v", tt.min, tt.max, c.BackoffMax, tt.wantMax)
		}
	}
}
