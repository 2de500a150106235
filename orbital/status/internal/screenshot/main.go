// Command screenshot renders the status page with a realistic, made-up
// history (six cases, one failing, its runs expanded) in headless Chromium
// and writes a PNG, the one README shows:
//
//	go run ./orbital/status/internal/screenshot -o docs/status.png
//
// It needs Chromium (-chrome, default: chromium on PATH) and nothing else:
// the page is served on a loopback port and the history is synthetic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

func main() {
	out := flag.String("o", "docs/status.png", "PNG to write")
	chrome := flag.String("chrome", "", "Chromium binary (default: chromium, chromium-browser or google-chrome on PATH)")
	width := flag.Int("width", 1440, "viewport width in CSS pixels")
	height := flag.Int("height", 1000, "viewport height in CSS pixels")
	dark := flag.Bool("dark", false, "render the dark theme")
	expand := flag.String("expand", "kafka", "case whose runs are shown")
	flag.Parse()
	if err := run(*out, *chrome, *width, *height, *dark, *expand); err != nil {
		fmt.Fprintln(os.Stderr, "screenshot:", err)
		os.Exit(1)
	}
}

// clock is a settable clock for the synthetic history.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// spec describes the made-up behaviour of one case.
type spec struct {
	name     string
	period   time.Duration
	dur      time.Duration // typical run duration
	latency  time.Duration // typical send-to-delivery latency, 0: none
	failRate float64
	skipRate float64
	subs     []string
	file     string
}

func run(out, chrome string, width, height int, dark bool, expand string) error {
	if chrome == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				chrome = p
				break
			}
		}
		if chrome == "" {
			return errors.New("no Chromium found; pass -chrome")
		}
	}

	specs := []spec{
		{name: "track", period: 30 * time.Second, dur: 180 * time.Millisecond, latency: 140 * time.Millisecond, failRate: 0.004, file: "track.go"},
		{name: "batch", period: time.Minute, dur: 320 * time.Millisecond, latency: 230 * time.Millisecond, failRate: 0.01, subs: []string{"identify", "page", "track"}, file: "batch.go"},
		{name: "kafka", period: 30 * time.Second, dur: 95 * time.Millisecond, latency: 70 * time.Millisecond, failRate: 0.004, file: "kafka.go"},
		{name: "browser", period: 2 * time.Minute, dur: 1400 * time.Millisecond, latency: 260 * time.Millisecond, failRate: 0.0, skipRate: 0.02, file: "browser.go"},
		{name: "dedupe", period: time.Minute, dur: 2300 * time.Millisecond, latency: 150 * time.Millisecond, file: "dedupe.go"},
		{name: "reject", period: time.Minute, dur: 40 * time.Millisecond, file: "reject.go"},
	}
	svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	for _, s := range specs {
		if err := svc.Register(orbital.TestCase{Name: s.name, Period: s.period, Timeout: 20 * time.Second,
			Func: func(context.Context, *orbital.O) {}}); err != nil {
			return err
		}
	}
	end := time.Now().UTC().Truncate(time.Second)
	start := end.Add(-24*time.Hour - 12*time.Minute)
	clk := &clock{now: start}
	st, err := status.New(status.Config{Service: svc, Version: "v0.9.2", Target: "embedded", Now: clk.Now})
	if err != nil {
		return err
	}

	// Synthesise the history: every case on its period over the last 24 h;
	// the kafka case failing for its last 12 minutes (a broker went away,
	// the ongoing incident the header names) after an hour of slow
	// deliveries three hours ago; track failing for 20 minutes six hours ago
	// (a closed incident); browser inconclusive for half an hour nine hours
	// ago (its Chromium pool was down) and not running for 45 minutes
	// fourteen hours ago (grey in its uptime bar).
	rng := rand.New(rand.NewPCG(7, 11))
	type tick struct {
		at time.Time
		s  spec
	}
	var ticks []tick
	for _, s := range specs {
		for t := start.Add(time.Duration(rng.Int64N(int64(s.period)))); t.Before(end.Add(-25 * time.Second)); t = t.Add(s.period) {
			ticks = append(ticks, tick{t, s})
		}
	}
	sortTicks := func(a, b tick) int { return a.at.Compare(b.at) }
	slices.SortFunc(ticks, sortTicks)
	ago := func(d time.Duration) time.Time { return end.Add(-d) }
	in := func(t time.Time, from, to time.Duration) bool { return t.After(ago(from)) && t.Before(ago(to)) }
	for _, tk := range ticks {
		clk.Set(tk.at)
		name := tk.s.name
		if name == "browser" && in(tk.at, 14*time.Hour, 13*time.Hour+15*time.Minute) {
			continue
		}
		forceFail := (name == "kafka" && tk.at.After(ago(12*time.Minute+10*time.Second))) ||
			(name == "track" && in(tk.at, 6*time.Hour, 5*time.Hour+40*time.Minute))
		for _, r := range synth(rng, tk.s, tk.at, forceFail) {
			if name == "browser" && r.Case == name && in(tk.at, 9*time.Hour, 8*time.Hour+30*time.Minute) {
				r.Outcome, r.Error, r.Measures = orbital.Inconclusive, "chromium pool unavailable: no browser to run in", nil
				r.Output = "--- INCONCLUSIVE: browser\n    [" + r.TraceID + "] browser.go:31: chromium pool unavailable: no browser to run in\n"
			}
			if name == "kafka" && in(tk.at, 3*time.Hour, 2*time.Hour) {
				if d, ok := r.Measures[orbital.DeliveryLatency]; ok {
					r.Measures[orbital.DeliveryLatency] = d * 4
					r.Duration += 3 * d
				}
			}
			st.Report(r)
		}
	}
	clk.Set(end)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: st, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	dir, err := os.MkdirTemp("", "orbital-screenshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	allocCtx, stop := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.UserDataDir(dir),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	defer stop()
	tab, closeTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(string, ...any) {}))
	defer closeTab()
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		return fmt.Errorf("starting %s: %w", chrome, err)
	}
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateScale(1)),
		emulateScheme(scheme),
		chromedp.Navigate("http://" + ln.Addr().String() + "/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.case[data-case="reject"]`)),
	}
	if expand != "" {
		sel := fmt.Sprintf(`tr.case[data-case=%q]`, expand)
		steps = append(steps,
			chromedp.Click(chromedp.CSS(sel+" th")),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr.detail[data-detail-for=%q] pre.log`, expand))),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr.detail[data-detail-for=%q] svg.chart-svg`, expand))),
			chromedp.WaitVisible(chromedp.CSS(`#all-incidents li.incident`)),
		)
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		return fmt.Errorf("driving the page: %w", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", out, len(png))
	return nil
}

// synth makes the results of one run of s at t (subtests first).
func synth(rng *rand.Rand, s spec, t time.Time, forceFail bool) []orbital.Result {
	jitter := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * (0.7 + 0.6*rng.Float64() + 0.9*rng.ExpFloat64()*0.15))
	}
	trace := uuid.NewString()
	r := orbital.Result{Case: s.name, TraceID: trace, Start: t, Duration: jitter(s.dur), Outcome: orbital.Pass}
	var lines []string
	logf := func(line int, format string, args ...any) {
		lines = append(lines, fmt.Sprintf("    [%s] %s:%d: %s", trace, s.file, line, fmt.Sprintf(format, args...)))
	}
	switch x := rng.Float64(); {
	case forceFail || x < s.failRate:
		r.Outcome = orbital.Fail
	case x < s.failRate+s.skipRate:
		r.Outcome = orbital.Skip
	}
	var subs []orbital.Result
	var subBlocks []string
	for _, sub := range s.subs {
		st := uuid.NewString()
		d := jitter(s.dur / 3)
		subs = append(subs, orbital.Result{Case: s.name + "/" + sub, Parent: s.name, TraceID: st, Start: t, Duration: d, Outcome: orbital.Pass,
			Measures: map[string]time.Duration{orbital.DeliveryLatency: jitter(s.latency)},
			Output:   fmt.Sprintf("    --- PASS: %s/%s (%.2fs)\n        [%s] %s:%d: messageId %s: delivered\n", s.name, sub, d.Seconds(), st, s.file, 61, st)})
		subBlocks = append(subBlocks, strings.TrimRight(subs[len(subs)-1].Output, "\n"))
	}
	switch {
	case r.Outcome == orbital.Skip:
		logf(44, "chromium is busy: 2 browser runs already going")
		r.Error = ""
	case r.Outcome == orbital.Fail && s.name == "kafka":
		r.Duration = 20*time.Second + jitter(15*time.Millisecond)
		r.TimedOut = false
		logf(72, "messageId %s: produced to events[3] at offset %d", trace, 18231+rng.IntN(500))
		logf(80, "waiting for delivery at /webhook (timeout 20s)")
		r.Error = fmt.Sprintf("messageId %s: not delivered within 20s (sent %s, pending keys: 1)", trace, t.Format("15:04:05.000"))
		logf(86, "%s", r.Error)
	case r.Outcome == orbital.Fail:
		r.Error = fmt.Sprintf("messageId %s: field properties.plan differs: got \"free\" want \"pro\"", trace)
		logf(58, "sent event %s", trace)
		logf(91, "%s", r.Error)
	default:
		lat := jitter(s.latency)
		if s.latency > 0 {
			r.Measures = map[string]time.Duration{orbital.DeliveryLatency: lat}
			logf(52, "messageId %s: sent (202 Accepted)", trace)
			logf(64, "messageId %s: delivered after %s, signature ok", trace, lat.Round(time.Millisecond))
		} else {
			logf(37, "invalid write key: 401 Unauthorized as expected")
		}
	}
	head := fmt.Sprintf("--- %s: %s (%.2fs)", map[orbital.Outcome]string{orbital.Pass: "PASS", orbital.Fail: "FAIL", orbital.Skip: "SKIP", orbital.Inconclusive: "INCONCLUSIVE"}[r.Outcome], s.name, r.Duration.Seconds())
	body := append([]string{head}, lines...)
	body = append(body, subBlocks...)
	r.Output = strings.Join(body, "\n") + "\n"
	return append(subs, r)
}

// emulateScheme sets prefers-color-scheme.
func emulateScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}
