// Package check holds the static validators behind `make -C deploy check`: it extracts the
// PromQL expressions from Prometheus rule files and Grafana dashboards, lists the metric
// names they select, and reads the metric names a service exports (from a Prometheus text
// exposition) or documents (docs/metrics.md), so that tests can prove every dashboard panel
// and alert queries a metric that really exists.
//
// The package lives in its own Go module (github.com/orbital-e2e/orbital/deploy) so that its
// heavy dependencies (Prometheus, Kubernetes, kustomize, compose-go) stay out of the orbital
// module. All functions are pure and safe for concurrent use.
package check
