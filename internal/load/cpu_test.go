//go:build unix

package load_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/load"
)

// TestMeasureCPU: MeasureCPU reports both loops' CPU per event and their
// ratio from the paired rounds it ran, every orbital event matched; its
// String carries the figures. (No bound on the figures: timing belongs in
// benchmarks.)
func TestMeasureCPU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := load.MeasureCPU(ctx, load.CPUConfig{Rate: 2000, Concurrency: 64, Rounds: 3, Events: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.Rounds != 3 || rep.Events != 200 || rep.Rate != 2000 {
		t.Errorf("report of rounds %d events %d rate %v, want what was asked", rep.Rounds, rep.Events, rep.Rate)
	}
	if rep.Orbital <= 0 || rep.Bare <= 0 || rep.Ratio <= 0 {
		t.Errorf("CPU figures missing: %+v", rep)
	}
	if rep.Lost != 0 {
		t.Errorf("%d events lost by the orbital loop", rep.Lost)
	}
	re := regexp.MustCompile(`^load generator, webhook and waiter [0-9.]+[µm]?s/event; bare net/http client loop [0-9.]+[µm]?s/event; ratio [0-9]+\.[0-9]{2} \(median of 3 paired rounds of 200 events at 2000/s, pipeline excluded\)$`)
	if s := rep.String(); !re.MatchString(s) {
		t.Errorf("String() = %q, want it to match %s", s, re)
	}
}

// TestMeasureCPUStopsWithCtx: a cancelled context ends the measurement with
// its error.
func TestMeasureCPUStopsWithCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := load.MeasureCPU(ctx, load.CPUConfig{Rate: 1000, Rounds: 2, Events: 50})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
