package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
)

const benchClients = 64

// roundTrips runs total closed-loop round trips split over benchClients
// goroutines against url. With rl set, each is Sent, POST, Wait, Delete;
// without, it is the POST alone (the bare handler records nothing to wait
// for). It returns the elapsed time and the matches lost.
func roundTrips(b *testing.B, client *http.Client, url string, rl *webhook.RouteLogger, total int, seq *atomic.Int64) (time.Duration, int64) {
	var lost atomic.Int64
	var wg sync.WaitGroup
	per := (total + benchClients - 1) / benchClients
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			// One deadline per client: a match still missing after it is lost.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for range per {
				key := "0b9f4c1e-7d2a-4c8e-9a51-" + strconv.FormatInt(1e11+seq.Add(1), 10)
				body = append(body[:0], `{"type":"track","event":"Orbital Round Trip","messageId":"`...)
				body = append(body, key...)
				body = append(body, `","properties":{"suite":"bench"}}`...)
				if rl != nil {
					if err := rl.Sent(key); err != nil {
						b.Error(err)
						return
					}
				}
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if rl != nil {
					if _, err := rl.Wait(ctx, key); err != nil {
						lost.Add(1)
					}
					rl.Delete(key)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), lost.Load()
}

func newBenchServer(b *testing.B, h http.Handler) (*httptest.Server, *http.Client) {
	b.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.Config.ReadTimeout = 10 * time.Second
	srv.Config.IdleTimeout = time.Minute
	srv.Start()
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: 2 * benchClients, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}
}

// BenchmarkRoundTrip measures matched round trips per second of the closed
// loop Sent → POST over loopback keep-alive HTTP → Wait → Delete at 64
// concurrent clients, against the same loop's POST to a bare handler that
// only drains the body, in the same run. Both are run in 16 alternating
// slices so that noise from other processes hits both alike. Reported:
// webhook-rt/s and bare-rt/s over all slices, ratio (webhook/bare, the
// median of the 16 paired slices) and lost (matches that never came back).
func BenchmarkRoundTrip(b *testing.B) {
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	whSrv, whClient := newBenchServer(b, webhook.New(webhook.Config{Logger: rl}))
	bareSrv, bareClient := newBenchServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	var seq atomic.Int64
	// Warm up both: connections, pools, maps.
	roundTrips(b, whClient, whSrv.URL, rl, 4*benchClients, &seq)
	roundTrips(b, bareClient, bareSrv.URL, nil, 4*benchClients, &seq)

	const nSlices = 16
	per := max(b.N/nSlices, benchClients)
	var whTime, bareTime time.Duration
	var lost int64
	ratios := make([]float64, 0, nSlices)
	b.ResetTimer()
	for range nSlices {
		bd, l := roundTrips(b, bareClient, bareSrv.URL, nil, per, &seq)
		wd, l2 := roundTrips(b, whClient, whSrv.URL, rl, per, &seq)
		bareTime += bd
		whTime += wd
		lost += l + l2
		ratios = append(ratios, bd.Seconds()/wd.Seconds())
	}
	b.StopTimer()
	n := float64(nSlices * ((per + benchClients - 1) / benchClients) * benchClients)
	wh := n / whTime.Seconds()
	bare := n / bareTime.Seconds()
	// The ratio is the median of the paired slices' ratios: a burst of
	// load from another process spoils one pair, not the figure.
	slices.Sort(ratios)
	b.ReportMetric(wh, "webhook-rt/s")
	b.ReportMetric(bare, "bare-rt/s")
	b.ReportMetric((ratios[len(ratios)/2-1]+ratios[len(ratios)/2])/2, "ratio")
	b.ReportMetric(float64(lost), "lost")
	if rl.Len() != 0 {
		b.Errorf("%d keys left pending", rl.Len())
	}
}

// BenchmarkPendingKeys reports the heap held per pending key with
// 1,000,000 keys pending (36-character keys, as uuid trace ids are),
// keys included.
func BenchmarkPendingKeys(b *testing.B) {
	const n = 1_000_000
	var perKey float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
		for i := range n {
			if err := rl.Sent(fmt.Sprintf("6f1c2d3e-4b5a-4c6d-8e7f-%012d", i)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if rl.Len() != n {
			b.Fatalf("Len = %d", rl.Len())
		}
		perKey = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(rl)
	}
	b.ReportMetric(perKey, "heap-B/key")
}
