package orbital

import (
	"testing"
	"time"
)

// TestAbandonGrace: a tenth of the timeout, at least 500ms, at most 2s.
func TestAbandonGrace(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{100 * time.Millisecond, 500 * time.Millisecond},
		{5 * time.Second, 500 * time.Millisecond},
		{10 * time.Second, time.Second},
		{15 * time.Second, 1500 * time.Millisecond},
		{time.Minute, 2 * time.Second},
		{time.Hour, 2 * time.Second},
	} {
		if got := abandonGrace(tt.timeout); got != tt.want {
			t.Errorf("abandonGrace(%v) = %v, want %v", tt.timeout, got, tt.want)
		}
	}
}
