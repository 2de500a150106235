package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/orbital-e2e/orbital/webhook"
	"github.com/segmentio/stats/v4"
)

// Defaults of CPUConfig.
const (
	DefaultCPURounds = 5
	// MinCPUEvents and MaxCPUEvents bound CPUConfig.Events' default.
	MinCPUEvents = 20
	MaxCPUEvents = 5000
)

// ErrNoCPUClock is returned by MeasureCPU where the platform does not report
// the process's CPU time.
var ErrNoCPUClock = errors.New("load: process CPU time not available on this platform")

// CPUConfig configures MeasureCPU. Every field works at its zero value.
type CPUConfig struct {
	// Rate and Concurrency pace both loops as Config's pace Run (give the
	// measured load's). Defaults: DefaultRate, DefaultConcurrency.
	Rate        float64
	Concurrency int
	// Rounds is the number of paired rounds. Default: 5 (DefaultCPURounds).
	Rounds int
	// Events is how many events each loop sends per round. Default: a
	// quarter of a second at Rate, between 20 and 5,000 (so the whole
	// measurement takes about 1.5 s at the default Rounds, plus warm-up).
	Events int
}

// CPUReport is what MeasureCPU measured. It is a plain value.
type CPUReport struct {
	Rounds, Events int     // paired rounds, events per loop and round
	Rate           float64 // events per second of both loops
	// Orbital is the process CPU per event of Run's loop (load generator,
	// webhook and waiter) and Bare that of the bare net/http client loop:
	// medians over the rounds.
	Orbital, Bare time.Duration
	// Ratio is the median over the rounds of Orbital ÷ Bare.
	Ratio float64
	// Lost counts events of Run's loop that were not matched (0 unless the
	// machine stalled for longer than DefaultDeliveryTimeout).
	Lost int
}

// String summarises c on one line.
func (c CPUReport) String() string {
	s := fmt.Sprintf("load generator, webhook and waiter %s/event; bare net/http client loop %s/event; ratio %.2f (median of %d paired rounds of %d events at %.0f/s, pipeline excluded)",
		c.Orbital, c.Bare, c.Ratio, c.Rounds, c.Events, c.Rate)
	if c.Lost > 0 {
		s += fmt.Sprintf("; %d lost", c.Lost)
	}
	return s
}

// MeasureCPU measures the process CPU per event that Run's own side costs —
// the load generator, a Webhook (signed Standard Webhooks deliveries,
// metrics to a Prometheus handler, as e2e serve has) and its RouteLogger
// waiting for every event — against a bare net/http client loop sending the
// same events at the same rate and concurrency to a handler that only drains
// them, in paired rounds (bare, orbital, orbital, bare; each half a round's
// events). Nothing of a pipeline is in the loop: the tracking API that Run
// sends to is a stand-in that signs each event as a pipeline's delivery and
// hands it to the Webhook in-process, so that the delivery is the event
// (its reading and signing, a pipeline's work, is counted on the orbital
// side). The CPU is the whole process's (getrusage): run it when nothing
// else in the process is busy, e.g. after the load, with the pipeline
// stopped. It returns ctx's error if ctx ends first, ErrNoCPUClock where
// the platform has no process CPU clock.
func MeasureCPU(ctx context.Context, cfg CPUConfig) (CPUReport, error) {
	if _, ok := processCPU(); !ok {
		return CPUReport{}, ErrNoCPUClock
	}
	cfg.defaults()
	c, err := newCPULoops(cfg)
	if err != nil {
		return CPUReport{}, err
	}
	defer c.close()
	c.orbital(ctx, cfg.Events) // warm up: connections, pools, maps
	c.bare(ctx, cfg.Events)
	rep := CPUReport{Rounds: cfg.Rounds, Events: cfg.Events, Rate: cfg.Rate}
	var orb, bare, ratios []float64
	half := max(cfg.Events/2, 1)
	for range cfg.Rounds {
		var o, b cpuSide
		b.add(c.bare(ctx, half))
		o.add(c.orbital(ctx, half))
		o.add(c.orbital(ctx, half))
		b.add(c.bare(ctx, half))
		if err := ctx.Err(); err != nil {
			return CPUReport{}, fmt.Errorf("load: CPU measurement interrupted: %w", err)
		}
		orb, bare = append(orb, o.perEvent()), append(bare, b.perEvent())
		ratios = append(ratios, o.perEvent()/b.perEvent())
	}
	rep.Orbital, rep.Bare = time.Duration(median(orb)), time.Duration(median(bare))
	rep.Orbital, rep.Bare = rep.Orbital.Round(100*time.Nanosecond), rep.Bare.Round(100*time.Nanosecond)
	rep.Ratio = median(ratios)
	rep.Lost = int(c.lost.Load())
	return rep, nil
}

func (c *CPUConfig) defaults() {
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Rounds <= 0 {
		c.Rounds = DefaultCPURounds
	}
	if c.Events <= 0 {
		c.Events = min(max(int(c.Rate/4), MinCPUEvents), MaxCPUEvents)
	}
}

// cpuSide adds up the slices of one loop in a round.
type cpuSide struct {
	cpu    time.Duration
	events int
}

func (s *cpuSide) add(cpu time.Duration, events int) { s.cpu, s.events = s.cpu+cpu, s.events+events }

// perEvent is nanoseconds of CPU per event.
func (s *cpuSide) perEvent() float64 { return float64(s.cpu) / float64(max(s.events, 1)) }

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// cpuLoops is the two loops of MeasureCPU with their servers and clients.
type cpuLoops struct {
	cfg                    CPUConfig
	rl                     *webhook.RouteLogger
	sink, bareSrv          *http.Server
	sinkURL, bareURL       string
	sinkClient, bareClient *http.Client
	lost                   atomic.Int64
}

// cpuWriteKey is what both loops send as the HTTP Basic user (nobody checks it).
const cpuWriteKey = "orbital-cpu"

func newCPULoops(cfg CPUConfig) (*cpuLoops, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	eng := stats.NewEngine("orbital", metrics.NewHandler())
	c := &cpuLoops{cfg: cfg, rl: webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))}
	wh := webhook.New(webhook.Config{Logger: c.rl, Secret: secret, Stats: eng})
	var err error
	if c.sink, c.sinkURL, err = serveLoopback(signingSink(secret, wh)); err != nil {
		return nil, err
	}
	drain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	if c.bareSrv, c.bareURL, err = serveLoopback(drain); err != nil {
		_ = c.sink.Close()
		return nil, err
	}
	c.sinkClient, c.bareClient = newClient(cfg.Concurrency), newClient(cfg.Concurrency)
	return c, nil
}

func (c *cpuLoops) close() {
	c.sinkClient.CloseIdleConnections()
	c.bareClient.CloseIdleConnections()
	_ = c.sink.Close()
	_ = c.bareSrv.Close()
}

// serveLoopback serves h on a loopback port until the returned server is closed.
func serveLoopback(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("load: CPU measurement: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

// signingSink stands in for the pipeline: it signs each event it receives
// as a Standard Webhooks delivery (webhook-id, webhook-timestamp,
// webhook-signature) and hands it to wh in-process.
func signingSink(secret []byte, wh http.Handler) http.Handler {
	var seq atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, webhook.DefaultMaxBodyBytes))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		id, now := "msg_cpu_"+strconv.FormatInt(seq.Add(1), 10), time.Now()
		r.Header.Set(webhook.HeaderWebhookID, id)
		r.Header.Set(webhook.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		r.Header.Set(webhook.HeaderWebhookSignature, webhook.SignStandard(secret, id, now, body))
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		wh.ServeHTTP(w, r)
	})
}

// orbital runs Run's loop for n events and returns the process CPU it took
// and the events it started.
func (c *cpuLoops) orbital(ctx context.Context, n int) (time.Duration, int) {
	cpu0, _ := processCPU()
	rep, err := Run(ctx, Config{APIURL: c.sinkURL, WriteKey: cpuWriteKey, Waiter: c.rl, Rate: c.cfg.Rate,
		Duration: c.window(n), Concurrency: c.cfg.Concurrency, HTTPClient: c.sinkClient})
	cpu1, _ := processCPU()
	if err != nil { // the config is ours: cannot happen
		return 0, 0
	}
	c.lost.Add(int64(rep.Lost))
	return cpu1 - cpu0, rep.Sent
}

// bare runs the bare loop for n events: the same pacing, the same event
// bodies and headers, a POST each and its answer drained; nothing waited for.
func (c *cpuLoops) bare(ctx context.Context, n int) (time.Duration, int) {
	endpoint := c.bareURL + "/v1/track"
	cpu0, _ := processCPU()
	p := pace(ctx, c.cfg.Rate, c.window(n), c.cfg.Concurrency, func(ctx context.Context, seq int) {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", seq) // as long as a uuid
		body := fmt.Appendf(nil, `{"type":"track","event":"orbital load","userId":"orbital-load","messageId":%q,"properties":{"seq":%d}}`, id, seq)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		req.SetBasicAuth(cpuWriteKey, "")
		req.Header.Set("Content-Type", "application/json")
		if resp, err := c.bareClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	})
	cpu1, _ := processCPU()
	return cpu1 - cpu0, p.sent
}

// window is how long sending n events takes at the configured rate.
func (c *cpuLoops) window(n int) time.Duration {
	return time.Duration(float64(n) / c.cfg.Rate * float64(time.Second))
}
