package pipeline_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEndToEnd pushes b.N events from 64 concurrent clients and reports
// events per second. The baseline POSTs each event straight to the webhook
// (one HTTP hop); the pipeline run sends it through the whole pipeline
// (HTTP ingest with acks=all, Kafka, worker, signed webhook delivery) and
// stops the clock when the last event was delivered.
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("baseline=direct-webhook", func(b *testing.B) {
		dest := newDestination(b, nil)
		benchSend(b, dest.URL(), nil, func() {})
	})
	b.Run("pipeline", func(b *testing.B) {
		var delivered, target atomic.Int64
		done := make(chan struct{})
		var once sync.Once
		dest := newDestination(b, func(int, http.ResponseWriter) bool {
			if delivered.Add(1) == target.Load() {
				once.Do(func() { close(done) })
			}
			return false
		})
		e := newEnv(b, nil, dest, nil)
		target.Store(int64(b.N))
		benchSend(b, e.api.URL+"/v1/track", func(r *http.Request) { r.SetBasicAuth(writeKey, "") }, func() {
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatalf("delivered %d of %d", delivered.Load(), b.N)
			}
		})
	})
}

// benchSend posts b.N events to url from 64 clients, then calls wait, and
// reports events/s over the whole time.
func benchSend(b *testing.B, url string, prepare func(*http.Request), wait func()) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	defer client.CloseIdleConnections()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url,
					strings.NewReader(fmt.Sprintf(`{"messageId":"bench-%d","event":"Bench","userId":"u","properties":{"i":%d}}`, i, i)))
				req.Header.Set("Content-Type", "application/json")
				if prepare != nil {
					prepare(req)
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
