//go:build !race

package reliability_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
