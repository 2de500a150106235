// Package orbital runs end-to-end tests forever.
//
// An end-to-end test is written like a Go unit test: a [TestFunc] gets a
// context and an [*O], which mirrors [testing.T] (Log, Error, Fatal, Skip,
// Helper, Cleanup, TempDir, Run for subtests), plus Inconclusive for a run
// that cannot reach a verdict through no fault of the system under test. Register it with a period on a
// [Service]; [Service.Run] then runs every case on its period until its
// context is done, never starting a case while its previous run is still
// going, and turns each run into a [Result], go test style output, slog log
// lines and metrics on a stats/v4 engine (see docs/metrics.md). The same
// cases can be run once, for example as a CI release gate, with
// [Service.RunOnce], and inside go test with package orbital/orbitaltest.
//
// A test that ignores its context cannot stall the service: a run is
// reported as failed and timed out shortly after its deadline whatever its
// function does, and the goroutine still running it is abandoned.
package orbital
