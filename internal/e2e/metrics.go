package e2e

import (
	"net/http"
	"sync"
	"time"

	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/datadog"
)

// statsdFlushInterval is how often buffered statsd metrics are sent.
const statsdFlushInterval = 10 * time.Second

// metricsSink is the stats/v4 handler of the process: Prometheus for /metrics, plus an
// optional Datadog/statsd client.
type metricsSink struct {
	prom    http.Handler // /metrics: Prometheus text without sample timestamps
	handler stats.Handler
	dd      *datadog.Client

	stop chan struct{}
	wg   sync.WaitGroup
}

func newMetricsSink(statsdAddr string) *metricsSink {
	prom := metrics.NewHandler()
	m := &metricsSink{prom: prom, handler: prom, stop: make(chan struct{})}
	if statsdAddr != "" {
		m.dd = datadog.NewClientWith(datadog.ClientConfig{Address: statsdAddr})
		m.handler = stats.MultiHandler(prom, m.dd)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			t := time.NewTicker(statsdFlushInterval)
			defer t.Stop()
			for {
				select {
				case <-m.stop:
					return
				case <-t.C:
					m.dd.Flush()
				}
			}
		}()
	}
	return m
}

// Close stops the flusher and sends what the statsd client still buffers.
func (m *metricsSink) Close() {
	close(m.stop)
	m.wg.Wait()
	if m.dd != nil {
		_ = m.dd.Close()
	}
}
