package reliability_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/orbital"
)

// Settings of the track case in the fault tests: often, with a timeout short
// enough that an outage fails a run quickly.
const (
	trackPeriod  = 200 * time.Millisecond
	trackTimeout = 4 * time.Second
)

// background runs load.Run at a low rate until stop is called, so that the
// pipeline has acknowledged events in flight when a fault starts; stop
// returns the report.
func background(t *testing.T, s *stack, rate float64) (stop func() load.Report) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan load.Report, 1)
	go func() {
		rep, err := load.Run(ctx, load.Config{
			APIURL: s.api.URL(), WriteKey: writeKey, Waiter: s.rl,
			Rate: rate, Duration: time.Hour, DeliveryTimeout: 30 * time.Second, Logger: s.logger,
		})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	var once sync.Once
	var rep load.Report
	stop = func() load.Report {
		once.Do(func() { cancel(); rep = <-done })
		return rep
	}
	t.Cleanup(func() { stop() })
	return stop
}

// checkRecovered is the end of every pipeline fault: the service is still
// running, the case passes again, the background load adds up, and every
// event the API acknowledged was delivered.
func checkRecovered(t *testing.T, s *stack, r *running, stop func() load.Report) {
	t.Helper()
	r.rec.waitFor(t, r.rec.mark(), waitLong, "track to pass again after the fault ended", passed("track"))
	r.requireUp(t)
	rep := stop()
	t.Logf("background load during the fault: %s", rep)
	if rep.Sent != rep.Matched+rep.Lost || rep.Sent == 0 {
		t.Errorf("background load does not add up: %s", rep)
	}
	acked := s.tracker.requireNoneLost(t, waitLong)
	t.Logf("every one of the %d acknowledged events was delivered", acked)
}

// TestFaultKafkaRestart stops the broker mid-run and starts a new one on the
// same address and data: runs fail with the API's 503 while it is down, pass
// again by themselves after, and nothing the API acknowledged is lost.
func TestFaultKafkaRestart(t *testing.T) {
	s := newStack(t, stackConfig{persistent: true})
	r := s.startService(t, 0, suite(t, s.harness(), trackPeriod, trackTimeout, "track")...)
	r.rec.waitFor(t, 0, waitLong, "a first pass", passed("track"))
	stop := background(t, s, 50)

	m := r.rec.mark()
	s.stopKafka()
	res := r.rec.waitFor(t, m, waitLong, "a run failing while Kafka is down", failedWith("track", "503"))
	t.Logf("while Kafka was down: %s", res.Error)
	r.requireUp(t)

	s.restartKafka()
	checkRecovered(t, s, r, stop)
}

// TestFaultWebhookUnreachable takes the destination webhook down (connections
// refused) and brings it back on the same address: runs fail with "not
// delivered", the pipeline retries, and every acknowledged event arrives.
func TestFaultWebhookUnreachable(t *testing.T) {
	s := newStack(t, stackConfig{})
	r := s.startService(t, 0, suite(t, s.harness(), trackPeriod, trackTimeout, "track")...)
	r.rec.waitFor(t, 0, waitLong, "a first pass", passed("track"))
	stop := background(t, s, 50)

	m := r.rec.mark()
	s.hook.down()
	res := r.rec.waitFor(t, m, waitLong, "a run failing while the webhook is unreachable", failedWith("track", "not delivered within"))
	t.Logf("while the webhook was unreachable: %s", res.Error)
	r.requireUp(t)

	s.hook.up()
	checkRecovered(t, s, r, stop)
}

// TestFaultDNS: an API host that does not resolve fails runs with the lookup
// error as the reason; a resolver that fails and then recovers is followed by
// passing runs without any help.
func TestFaultDNS(t *testing.T) {
	t.Run("unresolvable host", func(t *testing.T) {
		s := newStack(t, stackConfig{})
		h := s.harness()
		h.APIURL = "http://api.invalid"
		r := s.startService(t, 0, suite(t, h, trackPeriod, trackTimeout, "track")...)
		res := r.rec.waitFor(t, 0, waitLong, "a failed run naming the host", failedWith("track", "lookup api.invalid"))
		t.Logf("reason: %s", res.Error)
		r.requireUp(t)
	})
	t.Run("resolver down then up", func(t *testing.T) {
		s := newStack(t, stackConfig{})
		var dnsDown atomic.Bool
		h := s.harness()
		h.APIURL = "http://pipeline-api.test"
		apiAddr := strings.TrimPrefix(s.api.URL(), "http://")
		h.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				if dnsDown.Load() {
					return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
				}
				var d net.Dialer
				return d.DialContext(ctx, network, apiAddr)
			},
			DisableKeepAlives: true, // every run resolves again
		}}
		r := s.startService(t, 0, suite(t, h, trackPeriod, trackTimeout, "track")...)
		r.rec.waitFor(t, 0, waitLong, "a first pass", passed("track"))
		m := r.rec.mark()
		dnsDown.Store(true)
		res := r.rec.waitFor(t, m, waitLong, "a run failing on DNS", failedWith("track", "lookup pipeline-api.test: no such host"))
		t.Logf("reason: %s", res.Error)
		r.requireUp(t)
		dnsDown.Store(false)
		r.rec.waitFor(t, r.rec.mark(), waitLong, "a pass after DNS recovered", passed("track"))
		s.tracker.requireNoneLost(t, waitLong)
	})
}

// TestFaultMisbehavingTests: a test that hangs ignoring its context is
// reported as timed out at every period, a test that panics fails with its
// stack at every period, and neither stops the service from running the
// track case.
func TestFaultMisbehavingTests(t *testing.T) {
	s := newStack(t, stackConfig{})
	release := make(chan struct{})
	var hung atomic.Int64
	hang := orbital.TestCase{Name: "hang", Period: 100 * time.Millisecond, Timeout: 200 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			hung.Add(1)
			defer hung.Add(-1)
			<-release // ignores ctx on purpose
		}}
	panics := orbital.TestCase{Name: "panic", Period: 100 * time.Millisecond, Timeout: time.Second,
		Func: func(ctx context.Context, o *orbital.O) {
			var ids []string
			_ = ids[len(o.Name())] // index out of range: a runtime panic, as a buggy test has
		}}
	cases := append(suite(t, s.harness(), trackPeriod, trackTimeout, "track"), hang, panics)
	r := s.startService(t, 0, cases...)
	// Release the hung goroutines before the service drains (cleanups run
	// last-in-first-out), so they do not outlive the test.
	var releaseOnce sync.Once
	unhang := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unhang)
	r.rec.waitFor(t, 0, waitLong, "a first pass of track", passed("track"))
	base := appGoroutines() - int(hung.Load()) // the service going, nothing hung

	for i := range 3 {
		res := r.rec.waitFor(t, r.rec.mark(), waitLong, fmt.Sprintf("timed-out run %d of hang", i+1), func(res orbital.Result) bool {
			return res.Case == "hang" && res.TimedOut
		})
		if res.Outcome != orbital.Fail || !strings.Contains(res.Error, "timed out") {
			t.Fatalf("hang: outcome %s, error %q: want a failure saying it timed out", res.Outcome, res.Error)
		}
		res = r.rec.waitFor(t, r.rec.mark(), waitLong, fmt.Sprintf("panicking run %d", i+1), failedWith("panic", "index out of range"))
		if !strings.Contains(res.Output, "faults_test.go") || !strings.Contains(res.Output, "goroutine") {
			t.Fatalf("panic: output lacks the stack:\n%s", res.Output)
		}
		r.rec.waitFor(t, r.rec.mark(), waitLong, "track passing meanwhile", passed("track"))
	}
	r.requireUp(t)
	t.Logf("hang timed out %d times, panic failed %d times, track passed %d times; %d hung goroutines abandoned",
		r.rec.n("hang", orbital.Fail), r.rec.n("panic", orbital.Fail), r.rec.n("track", orbital.Pass), hung.Load())
	if n := hung.Load(); n > int64(r.rec.n("hang", orbital.Fail))+1 {
		t.Errorf("%d hung runs for %d timed-out results: runs of a case overlap", n, r.rec.n("hang", orbital.Fail))
	}
	// Once the hung functions return, their abandoned goroutines are gone.
	unhang()
	waitUntil(t, 10*time.Second, "the abandoned runs to end", func() bool { return hung.Load() == 0 })
	if n := settleGoroutines(base+5, 10*time.Second); n > base+5 {
		t.Errorf("goroutines %d after the hung runs returned, %d before anything hung", n, base)
	}
}

// TestFaultSlowMetricsScraper: a client that reads /metrics one byte a second
// blocks neither the runs nor other scrapes, and the server's WriteTimeout
// cuts it off.
func TestFaultSlowMetricsScraper(t *testing.T) {
	s := newStack(t, stackConfig{})
	// Enough series that the exposition (megabytes) cannot sit in socket
	// buffers: the slow scraper really holds the handler's write.
	bulk := stats.NewEngine("bulk", s.prom)
	pad := strings.Repeat("x", 100)
	for i := range 20000 {
		bulk.Set("series", i, stats.T("id", fmt.Sprintf("%s-%d", pad, i)))
	}
	r := s.startService(t, 0, suite(t, s.harness(), trackPeriod, trackTimeout, "track")...)
	r.rec.waitFor(t, 0, waitLong, "a first pass", passed("track"))

	// Long enough that a concurrent scrape of these megabytes finishes under -race on a busy
	// 2-core machine (it took 2.1-2.5 s there with a 2 s bound); the slow scraper is cut at it.
	const writeTimeout = 5 * time.Second
	var slowClosed atomic.Int64 // unix nanos when the slow connection closed
	var slowAddr atomic.Value
	srv := newServer(s.prom)
	srv.WriteTimeout = writeTimeout
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if a, _ := slowAddr.Load().(string); st == http.StateClosed && c.RemoteAddr().String() == a {
			slowClosed.Store(time.Now().UnixNano())
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	base := appGoroutines()

	// The slow scraper: a small receive buffer (set before connecting, so
	// the advertised window is small too), one byte a second.
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	slowAddr.Store(conn.LocalAddr().String())
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		br := bufio.NewReaderSize(conn, 16)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if _, err := br.ReadByte(); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-slowDone:
				return
			}
		}
	}()

	// Meanwhile runs go on and other scrapes are quick.
	fast := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	m := r.rec.mark()
	for i := range 3 {
		r.rec.waitFor(t, m, 10*time.Second, fmt.Sprintf("pass %d during the slow scrape", i+1), passed("track"))
		m = r.rec.mark()
		t0 := time.Now()
		resp, err := fast.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			t.Fatalf("scrape during the slow one: %v", err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || time.Since(t0) > writeTimeout {
			t.Fatalf("scrape during the slow one: status %d, %d bytes in %s", resp.StatusCode, n, time.Since(t0))
		}
		if i == 0 {
			t.Logf("a concurrent scrape: %d bytes in %s", n, time.Since(t0))
		}
	}
	waitUntil(t, writeTimeout+10*time.Second, "the server to cut the slow scraper off", func() bool { return slowClosed.Load() != 0 })
	t.Logf("slow scraper cut off %s after its request (WriteTimeout %s)", time.Unix(0, slowClosed.Load()).Sub(start).Round(time.Millisecond), writeTimeout)
	conn.Close()
	<-slowDone
	// A few goroutines of slack: track runs come and go meanwhile.
	if n := settleGoroutines(base+3, 10*time.Second); n > base+3 {
		t.Errorf("goroutines %d after the slow scraper left, %d before", n, base)
	}
	r.requireUp(t)
}
