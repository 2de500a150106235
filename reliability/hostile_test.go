package reliability_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
)

// gzipBomb returns a gzip body that decodes to n zero bytes.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(zeros))
		if _, err := zw.Write(zeros[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestHostileRequests sends hostile requests, each many times concurrently,
// to the webhook and the tracking API over real HTTP servers: each gets the
// right status, the memory allocated stays far below what the bodies would
// decode to, and the goroutines return to their count before.
func TestHostileRequests(t *testing.T) {
	s := newStack(t, stackConfig{})
	bomb := gzipBomb(t, 64<<20) // 64 MiB decoded, about 64 KiB on the wire
	big := bytes.Repeat([]byte("a"), 8<<20)
	goodBody := []byte(`{"messageId":"hostile-ok"}`)
	type req struct {
		name, target, method string
		header               func() map[string]string
		body                 []byte
		want                 int
	}
	hook, api := s.hook.URL()+"/webhook", s.api.URL()+"/v1/track"
	// Signed headers are Standard Webhooks, as the pipeline sends them; each
	// of the concurrent copies of a request gets its own delivery id (the
	// same id would be a replay, answered 200 without recording it).
	var seq atomic.Int64
	signWith := func(secret string, b []byte, extra ...string) map[string]string {
		id := fmt.Sprintf("msg_hostile%d", seq.Add(1))
		ts := time.Now()
		h := map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
			"webhook-signature": webhook.SignStandard([]byte(secret), id, ts, b)}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	sig := func(b []byte) map[string]string { return signWith(webhookSecret, b) }
	gz := func(b []byte) map[string]string { return signWith(webhookSecret, b, "Content-Encoding", "gzip") }
	auth := map[string]string{"Authorization": "Basic " + basic(writeKey), "Content-Type": "application/json"}
	tests := []req{
		{"webhook: signed delivery", hook, "POST", func() map[string]string { return sig(goodBody) }, goodBody, 200},
		{"webhook: unsigned", hook, "POST", func() map[string]string { return nil }, goodBody, 401},
		{"webhook: wrong signature", hook, "POST", func() map[string]string { return signWith("wrong", goodBody) }, goodBody, 401},
		{"webhook: oversized", hook, "POST", func() map[string]string { return sig(big) }, big, 413},
		{"webhook: gzip bomb", hook, "POST", func() map[string]string { return gz(bomb) }, bomb, 413},
		{"webhook: corrupt gzip", hook, "POST", func() map[string]string { return gz([]byte("\x1f\x8bnot gzip")) }, []byte("\x1f\x8bnot gzip"), 400},
		{"webhook: unknown encoding", hook, "POST", func() map[string]string { return signWith(webhookSecret, goodBody, "Content-Encoding", "br") }, goodBody, 415},
		{"webhook: GET", hook, "GET", func() map[string]string { return nil }, nil, 405},
		// A JSON content type: without one the API answers 415 before it looks for a write key in the body.
		{"api: no write key", api, "POST", func() map[string]string { return map[string]string{"Content-Type": "application/json"} }, []byte(`{"event":"e","userId":"u"}`), 401},
		{"api: wrong write key", api, "POST", func() map[string]string { return map[string]string{"Authorization": "Basic " + basic("nope")} }, []byte(`{"event":"e","userId":"u"}`), 401},
		{"api: malformed JSON", api, "POST", func() map[string]string { return auth }, []byte(`{"event":`), 400},
		{"api: not an object", api, "POST", func() map[string]string { return auth }, []byte(`[1,2,3]`), 400},
		{"api: oversized", api, "POST", func() map[string]string { return auth }, big, 413},
		{"api: gzip bomb", api, "POST", func() map[string]string { return withGzip(auth) }, bomb, 0}, // any 4xx
	}
	const parallel = 8
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := appGoroutines()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var wg sync.WaitGroup
			codes := make([]int, parallel)
			for i := range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, err := rawRequest(tt.method, tt.target, tt.header(), tt.body)
					if err != nil {
						t.Errorf("request: %v", err)
					}
					codes[i] = code
				}()
			}
			wg.Wait()
			runtime.ReadMemStats(&after)
			for _, c := range codes {
				if tt.want != 0 && c != tt.want || tt.want == 0 && (c < 400 || c > 499) {
					t.Fatalf("status %d, want %d", c, tt.want)
				}
			}
			// Each request may allocate a few times the body cap (1 MiB on
			// the webhook, 32 KiB on the API), never what a bomb decodes to
			// (64 MiB).
			allocated := after.TotalAlloc - before.TotalAlloc
			if limit := uint64(parallel * (16<<20 + 3*len(tt.body))); allocated > limit {
				t.Errorf("%d requests allocated %d MiB (limit %d MiB)", parallel, allocated>>20, limit>>20)
			}
			// Slack of 4 for the live pipeline's own goroutines (Kafka
			// fetches come and go); a leak per request would show 8.
			if n := settleGoroutines(base+4, 10*time.Second); n > base+4 {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines %d after the requests, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// rawRequest sends one request on its own connection and reads the status
// line. The body is written concurrently and write errors are ignored: a
// server may answer 413 and close before an oversized body is all sent, which
// a client library reports as a reset rather than as the answer.
func rawRequest(method, target string, header map[string]string, body []byte) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n", method, u.RequestURI(), u.Host, len(body))
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	written := make(chan struct{})
	go func() {
		defer close(written)
		_, _ = conn.Write(append(b.Bytes(), body...))
	}()
	defer func() { conn.Close(); <-written }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func withGzip(h map[string]string) map[string]string {
	out := map[string]string{"Content-Encoding": "gzip"}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// TestSlowloris: clients that send their request headers one byte a second
// are cut off by the server's ReadHeaderTimeout, and every goroutine they
// held is released.
func TestSlowloris(t *testing.T) {
	const headerTimeout = time.Second
	srv := newServer(webhook.New(webhook.Config{Secret: []byte(webhookSecret)}))
	srv.ReadHeaderTimeout = headerTimeout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	base := appGoroutines()

	const clients = 50
	header := "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Slow: " + strings.Repeat("a", 100) + "\r\n\r\n{}"
	cutAfter := make([]time.Duration, clients)
	var wg sync.WaitGroup
	for i := range clients {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Add(2)
		start := time.Now()
		closed := make(chan struct{})
		go func() { // reader: returns when the server closes the connection
			defer wg.Done()
			defer close(closed)
			_, _ = io.Copy(io.Discard, conn)
			cutAfter[i] = time.Since(start)
		}()
		go func() { // writer: one byte a second
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for j := 0; j < len(header); j++ {
				if _, err := conn.Write([]byte{header[j]}); err != nil {
					return
				}
				select {
				case <-closed:
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	worst := slicesMax(cutAfter)
	t.Logf("%d slowloris clients cut off after at most %s (ReadHeaderTimeout %s)", clients, worst.Round(time.Millisecond), headerTimeout)
	if worst > headerTimeout+3*time.Second {
		t.Errorf("a slow client held its connection %s", worst)
	}
	if n := settleGoroutines(base+2, 10*time.Second); n > base+2 {
		t.Errorf("goroutines %d after the slow clients were cut off, %d before", n, base)
	}
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}
