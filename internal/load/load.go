package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/orbital-e2e/orbital/webhook"
)

// Defaults of Config.
const (
	DefaultRate            = 100
	DefaultDuration        = 10 * time.Second
	DefaultConcurrency     = 1024
	DefaultDeliveryTimeout = 10 * time.Second
	// MaxReasons bounds the distinct lost reasons a Report keeps; further
	// reasons are counted under "other".
	MaxReasons = 32
)

// ErrConfig is wrapped by the error Run returns for an invalid Config.
var ErrConfig = errors.New("load: invalid config")

// Waiter is what Run needs from the receiving side: a *webhook.RouteLogger
// (or a cluster relay in front of one) satisfies it.
type Waiter interface {
	Sent(key string) error
	Wait(ctx context.Context, key string) (webhook.Request, error)
	Delete(key string)
}

// Config configures Run. APIURL and Waiter are required; every other field
// works at its zero value and documents its default.
type Config struct {
	// APIURL is the tracking API's base URL, without /v1, e.g.
	// "http://127.0.0.1:8081". Events go to APIURL+"/v1/track". Required.
	APIURL string
	// WriteKey is sent as the HTTP Basic user name. It is a secret: it never
	// appears in logs, lost reasons or errors.
	WriteKey string
	// Waiter receives the pipeline's deliveries keyed by messageId
	// (tests.MessageID). Required.
	Waiter Waiter
	// Rate is the target number of events sent per second. Default: 100.
	Rate float64
	// Duration is how long events are sent. Default: 10s.
	Duration time.Duration
	// Concurrency bounds the events in flight (sent, not yet delivered or
	// given up). When it is reached, sending waits, and the achieved send
	// rate (Report.SendRate) falls below Rate. Default: 1024.
	Concurrency int
	// DeliveryTimeout is each event's deadline, counted from the start of
	// its send: an event not delivered by then is lost with the reason
	// "not delivered within <DeliveryTimeout>". Default: 10s.
	DeliveryTimeout time.Duration
	// HTTPClient sends the events. Default: a client with a transport that
	// keeps up to Concurrency idle connections to the API; its idle
	// connections are closed when Run returns.
	HTTPClient *http.Client
	// Logger receives a line when the run starts and ends, a warning the
	// first time each lost reason occurs, and a debug line per lost event.
	// Default: discard.
	Logger *slog.Logger
}

// Report is the account of one Run. It is a plain value.
type Report struct {
	Sent    int // events whose send started
	Matched int // events delivered back before their deadline
	Lost    int // events not delivered, each counted in LostReasons
	// LostReasons counts lost events per reason: "http <status>",
	// "not delivered within <DeliveryTimeout>", "send error: <cause>",
	// "waiter: <error>"; at most MaxReasons keys plus "other".
	LostReasons map[string]int
	// Rate is the configured rate; SendRate is Sent over the sending window.
	Rate, SendRate float64
	// Throughput is Matched per second over Elapsed.
	Throughput float64
	// P50, P99 and Max are send-to-delivery latencies of the matched events
	// (from the start of the send to the webhook receiving the delivery),
	// within 0.4%.
	P50, P99, Max time.Duration
	// Elapsed runs from the first send to the last event accounted for.
	Elapsed time.Duration
	// CPU is the process CPU time (user and system, all threads) used while
	// Run ran, by everything in the process: with the embedded default, the
	// pipeline and the cases too (MeasureCPU measures the load generator,
	// webhook and waiter alone). 0 where the platform does not tell.
	CPU time.Duration
	// Interrupted reports that Run's context ended before Duration.
	Interrupted bool
}

// OK reports whether every event was sent and matched (Lost == 0 and at least
// one event sent).
func (r Report) OK() bool { return r.Sent > 0 && r.Lost == 0 && r.Sent == r.Matched }

// String summarises r on one line, lost reasons by decreasing count.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, matched %d, lost %d", r.Sent, r.Matched, r.Lost)
	if len(r.LostReasons) > 0 {
		type kv struct {
			k string
			v int
		}
		var rs []kv
		for k, v := range r.LostReasons {
			rs = append(rs, kv{k, v})
		}
		sort.Slice(rs, func(i, j int) bool {
			if rs[i].v != rs[j].v {
				return rs[i].v > rs[j].v
			}
			return rs[i].k < rs[j].k
		})
		b.WriteString(" (")
		for i, e := range rs {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%d %s", e.v, e.k)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; throughput %.1f ev/s (target %.0f/s, sent %.1f/s); delivery p50 %s p99 %s max %s; elapsed %s",
		r.Throughput, r.Rate, r.SendRate, r.P50, r.P99, r.Max, r.Elapsed.Round(time.Millisecond))
	if r.CPU > 0 && r.Sent > 0 {
		fmt.Fprintf(&b, "; process CPU %s/event", perEvent(r.CPU, r.Sent))
	}
	if r.Interrupted {
		b.WriteString("; interrupted")
	}
	return b.String()
}

// perEvent is d over n events, rounded for reading.
func perEvent(d time.Duration, n int) time.Duration {
	return (d / time.Duration(n)).Round(100 * time.Nanosecond)
}

// Run sends events as cfg says and returns their account. It returns an error
// (wrapping ErrConfig) only for an invalid Config. When ctx ends, no further
// event is sent; the events in flight keep their own deadline (they are not
// cancelled by ctx) and are accounted for before Run returns, so Run returns
// at most DeliveryTimeout after ctx ends.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.defaults(); err != nil {
		return Report{}, err
	}
	r := &runner{cfg: cfg, endpoint: strings.TrimRight(cfg.APIURL, "/") + "/v1/track"}
	r.reasons = make(map[string]int)
	if r.client = cfg.HTTPClient; r.client == nil {
		r.client = newClient(cfg.Concurrency)
		defer r.client.CloseIdleConnections()
	}
	return r.run(ctx), nil
}

func (c *Config) defaults() error {
	if c.APIURL == "" {
		return fmt.Errorf("%w: APIURL is required", ErrConfig)
	}
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: APIURL must be an http(s) URL with a host", ErrConfig)
	}
	if c.Waiter == nil {
		return fmt.Errorf("%w: Waiter is required", ErrConfig)
	}
	if c.Rate < 0 || c.Duration < 0 || c.Concurrency < 0 || c.DeliveryTimeout < 0 {
		return fmt.Errorf("%w: Rate, Duration, Concurrency and DeliveryTimeout must not be negative", ErrConfig)
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
}

// runner is the state of one Run. Its outcome fields are guarded by mu.
type runner struct {
	cfg      Config
	endpoint string
	client   *http.Client

	mu      sync.Mutex
	matched int
	lost    int
	reasons map[string]int
	hist    histogram
}

func (r *runner) run(ctx context.Context) Report {
	cfg := r.cfg
	log := cfg.Logger
	log.Info("load started", "rate", cfg.Rate, "duration", cfg.Duration, "concurrency", cfg.Concurrency, "delivery_timeout", cfg.DeliveryTimeout)
	cpu0, cpuOK := processCPU()
	p := pace(ctx, cfg.Rate, cfg.Duration, cfg.Concurrency, r.event)
	cpu1, _ := processCPU()

	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{
		Sent:        p.sent,
		Matched:     r.matched,
		Lost:        r.lost,
		Rate:        cfg.Rate,
		P50:         r.hist.quantile(0.50),
		P99:         r.hist.quantile(0.99),
		Max:         r.hist.max,
		Elapsed:     p.elapsed,
		Interrupted: p.interrupted,
	}
	if cpuOK {
		rep.CPU = cpu1 - cpu0
	}
	if len(r.reasons) > 0 {
		rep.LostReasons = make(map[string]int, len(r.reasons))
		for k, v := range r.reasons {
			rep.LostReasons[k] = v
		}
	}
	if s := p.sendWindow.Seconds(); s > 0 {
		rep.SendRate = float64(rep.Sent) / s
	}
	if s := p.elapsed.Seconds(); s > 0 {
		rep.Throughput = float64(rep.Matched) / s
	}
	log.Info("load finished", "report", rep.String())
	return rep
}

// paced is what pace did: events started, the sending window (Duration, or
// shorter when ctx ended it), the time until the last event returned.
type paced struct {
	sent                int
	sendWindow, elapsed time.Duration
	interrupted         bool
}

// pace starts event(ctx, seq) in a goroutine of its own rate times a second
// for d, at most conc at a time (sending waits when conc are in flight), and
// returns once every event returned. When ctx ends, no further event starts.
func pace(ctx context.Context, rate float64, d time.Duration, conc int, event func(context.Context, int)) paced {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	perEvent := float64(time.Second) / rate
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var p paced
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) * perEvent))
		if !due.Before(end) {
			break
		}
		if !waitTurn(ctx, timer, due, sem) {
			p.interrupted = true
			break
		}
		if time.Now().After(end) {
			<-sem
			break
		}
		p.sent++
		wg.Add(1)
		go func(seq int) {
			defer wg.Done()
			defer func() { <-sem }()
			event(ctx, seq)
		}(i)
	}
	p.sendWindow = d
	if p.interrupted {
		p.sendWindow = time.Since(start)
	}
	wg.Wait()
	p.elapsed = time.Since(start)
	return p
}

// waitTurn waits until due and for a slot in sem (taking it); false when ctx
// ended first (no slot taken).
func waitTurn(ctx context.Context, timer *time.Timer, due time.Time, sem chan struct{}) bool {
	// Sleep only when more than a millisecond ahead: the schedule is
	// absolute, so a late wake-up is caught up by the next sends.
	if wait := time.Until(due); wait > time.Millisecond {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
	}
	select {
	case <-ctx.Done():
		return false
	case sem <- struct{}{}:
	}
	if ctx.Err() != nil { // both were ready: prefer stopping
		<-sem
		return false
	}
	return true
}

// event sends one event and waits for it; it always records exactly one
// outcome.
func (r *runner) event(ctx context.Context, seq int) {
	t0 := time.Now()
	// The event keeps its own deadline when ctx ends: an event in flight at
	// shutdown is still accounted for, not failed by the shutdown.
	ectx, cancel := context.WithDeadline(context.WithoutCancel(ctx), t0.Add(r.cfg.DeliveryTimeout))
	defer cancel()
	id := uuid.NewString()
	if err := r.cfg.Waiter.Sent(id); err != nil {
		r.lose(id, "waiter: "+err.Error())
		return
	}
	defer r.cfg.Waiter.Delete(id)
	if reason := r.send(ectx, id, seq); reason != "" {
		r.lose(id, reason)
		return
	}
	req, err := r.cfg.Waiter.Wait(ectx, id)
	if err != nil {
		if ectx.Err() != nil {
			r.lose(id, fmt.Sprintf("not delivered within %s", r.cfg.DeliveryTimeout))
		} else {
			r.lose(id, "waiter: "+err.Error())
		}
		return
	}
	lat := req.ReceivedAt.Sub(t0)
	if req.ReceivedAt.IsZero() {
		lat = time.Since(t0)
	}
	r.mu.Lock()
	r.matched++
	r.hist.record(lat)
	r.mu.Unlock()
}

// send POSTs the event; it returns "" when the API answered 2xx, else the lost
// reason.
func (r *runner) send(ctx context.Context, id string, seq int) string {
	body := fmt.Appendf(nil, `{"type":"track","event":"orbital load","userId":"orbital-load","messageId":%q,"properties":{"seq":%d}}`, id, seq)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, strings.NewReader(string(body)))
	if err != nil {
		return "send error: " + err.Error()
	}
	req.SetBasicAuth(r.cfg.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return "send error: " + r.cause(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Sprintf("http %d", resp.StatusCode)
	}
	return ""
}

// cause describes a send error briefly: without the URL (which url.Error
// repeats for every event), never with the write key.
func (r *runner) cause(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("no answer within %s", r.cfg.DeliveryTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if r.cfg.WriteKey != "" {
		msg = strings.ReplaceAll(msg, r.cfg.WriteKey, "<write-key>")
	}
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	return msg
}

func (r *runner) lose(id, reason string) {
	r.mu.Lock()
	r.lost++
	if _, ok := r.reasons[reason]; !ok && len(r.reasons) >= MaxReasons {
		reason = "other"
	}
	r.reasons[reason]++
	first := r.reasons[reason] == 1
	r.mu.Unlock()
	if first {
		r.cfg.Logger.Warn("load: event lost", "reason", reason, "message_id", id)
	} else {
		r.cfg.Logger.Debug("load: event lost", "reason", reason, "message_id", id)
	}
}
