package webhook

import (
	"time"

	"github.com/segmentio/stats/v4"
)

// Defaults of the RouteOptions.
const (
	DefaultTTL               = 10 * time.Minute
	DefaultGrace             = time.Minute
	DefaultMaxUnmatched      = 100_000
	DefaultMaxUnmatchedBytes = 64 << 20
	DefaultMaxPerKey         = 100
)

// A RouteOption configures a RouteLogger.
type RouteOption func(*routeConfig)

type routeConfig struct {
	ttl               time.Duration
	grace             time.Duration
	maxUnmatched      int
	maxUnmatchedBytes int64
	maxPerKey         int
	stats             *stats.Engine
	now               func() time.Time // nil: the real clock, read as monotonic time (RouteLogger.now)
}

func defaultRouteConfig() routeConfig {
	return routeConfig{
		ttl:               DefaultTTL,
		grace:             DefaultGrace,
		maxUnmatched:      DefaultMaxUnmatched,
		maxUnmatchedBytes: DefaultMaxUnmatchedBytes,
		maxPerKey:         DefaultMaxPerKey,
	}
}

// WithTTL sets how long a key stays pending after Sent when nobody Deletes
// it; then it is evicted and Wait on it returns ErrNotSent. Values <= 0 keep
// the default. Default: 10 minutes.
func WithTTL(d time.Duration) RouteOption {
	return func(c *routeConfig) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithGrace sets how long a delivery for a key that is not pending is kept,
// so that a Sent shortly after it (a pipeline faster than the test) still
// matches it. 0 disables keeping unmatched deliveries. Default: 1 minute.
func WithGrace(d time.Duration) RouteOption {
	return func(c *routeConfig) {
		if d >= 0 {
			c.grace = d
		}
	}
}

// WithMaxUnmatched caps how many unmatched deliveries are kept; beyond it
// the oldest are evicted (counted as webhook.unmatched_evicted_total with
// reason "overflow"). 0 disables keeping them. Default: 100,000.
func WithMaxUnmatched(n int) RouteOption {
	return func(c *routeConfig) {
		if n >= 0 {
			c.maxUnmatched = n
		}
	}
}

// WithMaxUnmatchedBytes caps the bytes of the unmatched deliveries kept
// (each counts its body, header, URL and key plus 256 bytes of overhead);
// beyond it the oldest are evicted as with WithMaxUnmatched. Values <= 0
// keep the default.
// Default: 64 MiB.
func WithMaxUnmatchedBytes(n int64) RouteOption {
	return func(c *routeConfig) {
		if n > 0 {
			c.maxUnmatchedBytes = n
		}
	}
}

// WithMaxPerKey caps the deliveries kept per pending key; further
// duplicates are still counted (and seen by WaitNone) but not kept for
// Received. Values <= 0 keep the default. Default: 100.
func WithMaxPerKey(n int) RouteOption {
	return func(c *routeConfig) {
		if n > 0 {
			c.maxPerKey = n
		}
	}
}

// WithStats sets the engine that receives webhook.matched_total,
// webhook.duplicate_total, webhook.unmatched_total,
// webhook.unmatched_evicted_total{reason} and webhook.pending_keys.
// Default: nil, no metrics.
func WithStats(e *stats.Engine) RouteOption {
	return func(c *routeConfig) { c.stats = e }
}

// WithClock sets the clock used for the TTL and the grace period (tests use
// a fake one). WaitNone's duration is always real time. Default: the real
// clock, read as monotonic time (so setting the wall clock moves no TTL).
func WithClock(now func() time.Time) RouteOption {
	return func(c *routeConfig) {
		if now != nil {
			c.now = now
		}
	}
}
