package webhook_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/webhook"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
)

// TestCountersExistAtZero: before any request, /metrics already holds every webhook counter at
// 0, for every reason it can carry, so that the first rejection or duplicate is an increase
// that rate() and increase() see.
func TestCountersExistAtZero(t *testing.T) {
	prom := &prometheus.Handler{}
	eng := stats.NewEngine("orbital", prom)
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))
	_ = webhook.New(webhook.Config{Logger: rl, Stats: eng})

	rec := httptest.NewRecorder()
	prom.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`orbital_webhook_received_total 0 `,
		`orbital_webhook_rejected_total{reason="method"} 0 `,
		`orbital_webhook_rejected_total{reason="too_large"} 0 `,
		`orbital_webhook_rejected_total{reason="bad_signature"} 0 `,
		`orbital_webhook_rejected_total{reason="bad_encoding"} 0 `,
		`orbital_webhook_rejected_total{reason="read_error"} 0 `,
		`orbital_webhook_rejected_total{reason="unavailable"} 0 `,
		`orbital_webhook_rejected_total{reason="stale_timestamp"} 0 `,
		`orbital_webhook_rejected_total{reason="busy"} 0 `,
		`orbital_webhook_replayed_total 0 `,
		`orbital_webhook_matched_total 0 `,
		`orbital_webhook_duplicate_total 0 `,
		`orbital_webhook_unmatched_total 0 `,
		`orbital_webhook_unmatched_evicted_total{reason="expired"} 0 `,
		`orbital_webhook_unmatched_evicted_total{reason="overflow"} 0 `,
		`orbital_webhook_pending_keys 0 `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics before any delivery lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
