//go:build !unix

package load_test

import (
	"context"
	"errors"
	"testing"

	"github.com/orbital-e2e/orbital/internal/load"
)

// TestMeasureCPUWithoutClock: where the platform has no process CPU clock,
// MeasureCPU says so.
func TestMeasureCPUWithoutClock(t *testing.T) {
	if _, err := load.MeasureCPU(context.Background(), load.CPUConfig{}); !errors.Is(err, load.ErrNoCPUClock) {
		t.Fatalf("err = %v, want ErrNoCPUClock", err)
	}
}
