// Package reliability holds orbital's reliability suite: tests that build the
// embedded default in-process (embedded Kafka, the example pipeline, a webhook
// and an orbital.Service) and put it under load, run it for a long time,
// inject faults and send it hostile input, asserting that nothing acknowledged
// is lost, nothing leaks and every failure is reported with its reason.
//
// The package has no code of its own; everything is in its tests. The
// CI-sized versions run in `go test` (`make test`); longer runs are enabled by
// environment variables:
//
//	ORBITAL_LOAD_DURATION=60s  the load test's duration (default 5s), e.g. `make load`
//	ORBITAL_LOAD_RATE=2000     the load test's rate in events per second (default 2000)
//	ORBITAL_SOAK=2h            the soak test's duration (default 60s), e.g. `make soak`
//
// RELIABILITY.md at the repository root records what was tried and the
// figures measured.
package reliability
