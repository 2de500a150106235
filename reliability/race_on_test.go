//go:build race

package reliability_test

// raceEnabled reports whether the race detector is on; it slows the pipeline
// several times, so CI-sized figures are scaled down under it.
const raceEnabled = true
