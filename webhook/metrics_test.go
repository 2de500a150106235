package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orbital-e2e/orbital/orbital/metrics"
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

// scrapeText is GET /metrics on h.
func scrapeText(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

func wantSamples(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, "\n"+w+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", w, text)
		}
	}
}

// TestScrapeSeesEveryDelivery: under orbital/metrics' handler, whose
// scrapes collect the per-delivery series (received, matched, pending keys)
// only when they are read, every scrape shows exactly what happened before
// it: the pending key right after Sent, the delivery right after the POST,
// nothing pending after Delete, and the totals after concurrent round trips
// scraped all along.
func TestScrapeSeesEveryDelivery(t *testing.T) {
	prom := metrics.NewHandler()
	eng := stats.NewEngine("orbital", prom)
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))
	srv := httptest.NewServer(webhook.New(webhook.Config{Logger: rl, Stats: eng}))
	defer srv.Close()
	wantSamples(t, scrapeText(t, prom), "orbital_webhook_received_total 0", "orbital_webhook_matched_total 0", "orbital_webhook_pending_keys 0")

	post := func(key string) error {
		res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"messageId":"`+key+`"}`))
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %d", key, res.StatusCode)
		}
		return nil
	}
	if err := rl.Sent("k0"); err != nil {
		t.Fatal(err)
	}
	wantSamples(t, scrapeText(t, prom), "orbital_webhook_received_total 0", "orbital_webhook_pending_keys 1")
	if err := post("k0"); err != nil {
		t.Fatal(err)
	}
	wantSamples(t, scrapeText(t, prom), "orbital_webhook_received_total 1", "orbital_webhook_matched_total 1", "orbital_webhook_pending_keys 1")
	rl.Delete("k0")
	wantSamples(t, scrapeText(t, prom), "orbital_webhook_pending_keys 0")

	const clients, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("c%d-%d", c, i)
				if err := rl.Sent(key); err != nil {
					errs <- err
					return
				}
				if err := post(key); err != nil {
					errs <- err
					return
				}
				rl.Delete(key)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for scraping := true; scraping; {
		select {
		case <-done:
			scraping = false
		default:
			scrapeText(t, prom)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 1 + clients*each
	wantSamples(t, scrapeText(t, prom), fmt.Sprintf("orbital_webhook_received_total %d", n),
		fmt.Sprintf("orbital_webhook_matched_total %d", n), "orbital_webhook_pending_keys 0")
}
