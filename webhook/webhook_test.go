package webhook_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/webhook"
)

// recorder is a Logger that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	reqs []webhook.Request
}

func (r *recorder) Record(req webhook.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

func (r *recorder) all() []webhook.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Request(nil), r.reqs...)
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWebhook(t *testing.T) {
	body := `{"messageId":"m1"}`
	zbody := gz(t, body)
	bomb := gz(t, strings.Repeat("0", 16<<20)) // 16 MiB of zeros, ~16 KiB on the wire

	tests := []struct {
		name       string
		cfg        webhook.Config
		method     string
		body       []byte
		header     map[string]string
		wantCode   int
		wantBody   string // recorded body; "" means nothing recorded
		wantReason string // rejected_total reason
		length     int64  // ContentLength when not 0 (-1: unknown, as chunked)
	}{
		{name: "post", method: "POST", body: []byte(body), wantCode: 200, wantBody: body},
		{name: "put", method: "PUT", body: []byte(body), wantCode: 200, wantBody: body},
		{name: "patch", method: "PATCH", body: []byte(body), wantCode: 200, wantBody: body},
		{name: "empty body", method: "POST", wantCode: 200, wantBody: ""},
		{name: "get", method: "GET", wantCode: 405, wantReason: "method"},
		{name: "delete", method: "DELETE", wantCode: 405, wantReason: "method"},
		{name: "gzip", method: "POST", body: zbody, header: map[string]string{"Content-Encoding": "gzip"}, wantCode: 200, wantBody: body},
		{name: "corrupt gzip", method: "POST", body: []byte("not gzip"), header: map[string]string{"Content-Encoding": "gzip"}, wantCode: 400, wantReason: "bad_encoding"},
		{name: "truncated gzip", method: "POST", body: zbody[:len(zbody)-6], header: map[string]string{"Content-Encoding": "gzip"}, wantCode: 400, wantReason: "bad_encoding"},
		{name: "unknown encoding", method: "POST", body: []byte(body), header: map[string]string{"Content-Encoding": "br"}, wantCode: 415, wantReason: "bad_encoding"},
		{name: "gzip bomb", method: "POST", body: bomb, header: map[string]string{"Content-Encoding": "gzip"}, wantCode: 413, wantReason: "too_large"},
		{name: "too large", cfg: webhook.Config{MaxBodyBytes: 8}, method: "POST", body: []byte(body), wantCode: 413, wantReason: "too_large"},
		{name: "exactly max", cfg: webhook.Config{MaxBodyBytes: int64(len(body))}, method: "POST", body: []byte(body), wantCode: 200, wantBody: body},
		{name: "gzip decoded too large", cfg: webhook.Config{MaxBodyBytes: 8}, method: "POST", body: zbody, header: map[string]string{"Content-Encoding": "gzip"}, wantCode: 413, wantReason: "too_large"},
		{name: "default cap 1 MiB", method: "POST", body: bytes.Repeat([]byte("x"), 1<<20+1), wantCode: 413, wantReason: "too_large"},
		{name: "too large, length unknown", cfg: webhook.Config{MaxBodyBytes: 8}, method: "POST", body: []byte(body), length: -1, wantCode: 413, wantReason: "too_large"},
		{name: "exactly max, length unknown", cfg: webhook.Config{MaxBodyBytes: int64(len(body))}, method: "POST", body: []byte(body), length: -1, wantCode: 200, wantBody: body},
		{name: "too large, length understated", cfg: webhook.Config{MaxBodyBytes: 8}, method: "POST", body: []byte(body), length: 4, wantCode: 413, wantReason: "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := &statstest.Handler{}
			cfg := tt.cfg
			cfg.Logger = rec
			cfg.Stats = stats.NewEngine("", h)
			wh := webhook.New(cfg)

			req := httptest.NewRequest(tt.method, "/webhook?x=1", bytes.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.length != 0 {
				req.ContentLength = tt.length
			}
			rw := httptest.NewRecorder()
			wh.ServeHTTP(rw, req)

			if rw.Code != tt.wantCode {
				t.Fatalf("status %d, want %d (%s)", rw.Code, tt.wantCode, rw.Body)
			}
			if tt.wantCode == 405 && rw.Header().Get("Allow") != "POST, PUT, PATCH" {
				t.Fatalf("Allow = %q", rw.Header().Get("Allow"))
			}
			got := rec.all()
			if tt.wantCode == 200 {
				if len(got) != 1 {
					t.Fatalf("recorded %d requests, want 1", len(got))
				}
				r := got[0]
				if r.Body != tt.wantBody || r.Method != tt.method || r.RawURL != "/webhook?x=1" || r.ReceivedAt.IsZero() || r.RemoteAddr == "" || r.Proto == "" {
					t.Fatalf("recorded %+v", r)
				}
			} else if len(got) != 0 {
				t.Fatalf("rejected request was recorded: %+v", got)
			}
			counts := map[string]int{}
			for _, m := range h.Measures() {
				for _, f := range m.Fields {
					name := m.Name + "." + f.Name
					for _, tag := range m.Tags {
						if tag.Name == "reason" {
							name += "/" + tag.Value
						}
					}
					counts[name] += int(f.Value.Int())
				}
			}
			if counts["webhook.received_total"] != 1 {
				t.Fatalf("received_total: %v", counts)
			}
			if tt.wantReason != "" && counts["webhook.rejected_total/"+tt.wantReason] != 1 {
				t.Fatalf("rejected_total{reason=%s} not counted: %v", tt.wantReason, counts)
			}
		})
	}
}

func TestWebhookOverLoopback(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.Header("X-Trace"))
	srv := httptest.NewServer(webhook.New(webhook.Config{Logger: rl}))
	defer srv.Close()
	if err := rl.Sent("t1"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hook", strings.NewReader("hello"))
	req.Header.Set("X-Trace", "t1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := rl.Received("t1")
	if len(got) != 1 || got[0].Body != "hello" || got[0].Header.Get("X-Trace") != "t1" {
		t.Fatalf("received %+v", got)
	}
}

// FuzzWebhook: whatever the request, the handler answers 200 or a 4xx and
// never panics, unsigned and under either signature scheme.
func FuzzWebhook(f *testing.F) {
	secret := []byte("k")
	f.Add("POST", "gzip", []byte(`{"messageId":"a"}`), "")
	f.Add("PUT", "", []byte(`{"messageId":"a"}`), webhook.Sign(secret, []byte(`{"messageId":"a"}`)))
	f.Add("PATCH", "gzip", gz(f, `{"a":1}`), "sha256=00")
	f.Add("GET", "br", []byte{0x1f, 0x8b, 8, 0, 0, 0}, "zz")
	f.Fuzz(func(t *testing.T, method, enc string, body []byte, sig string) {
		for i := range 3 {
			cfg := webhook.Config{
				Logger:       webhook.NewRouteLogger(webhook.JSONField("messageId")),
				MaxBodyBytes: 4096,
			}
			if i > 0 {
				cfg.Secret = secret
			}
			if i == 2 {
				cfg.Scheme = webhook.SchemeXSignature
			}
			wh := webhook.New(cfg)
			req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			req.Method = method
			req.Header.Set("Content-Encoding", enc)
			req.Header.Set("X-Signature", sig)
			req.Header.Set("webhook-id", "msg_1")
			req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			req.Header.Set("webhook-signature", sig)
			rw := httptest.NewRecorder()
			wh.ServeHTTP(rw, req)
			if rw.Code != 200 && (rw.Code < 400 || rw.Code > 499) {
				t.Fatalf("status %d for method %q encoding %q", rw.Code, method, enc)
			}
		}
	})
}

// TestWebhookGzipLimits: a gzip body that decodes to exactly MaxBodyBytes
// is accepted even when it is incompressible (its wire size is a little
// larger); junk far past the wire bound is refused as too large before it
// is decoded; a request built without RequestURI is recorded with its URL.
func TestWebhookGzipLimits(t *testing.T) {
	const max = 1 << 20
	random := make([]byte, max)
	rand.NewChaCha8([32]byte{23}).Read(random) // incompressible
	rec := &recorder{}
	wh := webhook.New(webhook.Config{Logger: rec, MaxBodyBytes: max})
	send := func(body []byte, uri string) int {
		req := httptest.NewRequest(http.MethodPost, "/webhook?x=1", bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		req.RequestURI = uri
		rw := httptest.NewRecorder()
		wh.ServeHTTP(rw, req)
		return rw.Code
	}
	wire := gz(t, string(random))
	if len(wire) <= max {
		t.Fatalf("test body compresses to %d bytes; it must not shrink", len(wire))
	}
	if code := send(wire, ""); code != http.StatusOK {
		t.Fatalf("gzip of exactly MaxBodyBytes incompressible bytes (%d on the wire): status %d, want 200", len(wire), code)
	}
	if got := rec.all(); len(got) != 1 || got[0].RawURL != "/webhook?x=1" || len(got[0].Body) != max {
		t.Fatalf("recorded %d requests (RawURL %q)", len(got), func() string {
			if len(got) > 0 {
				return got[0].RawURL
			}
			return ""
		}())
	}
	junk := bytes.Repeat([]byte{0xff}, 4*max)
	if code := send(junk, "/webhook"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d bytes of gzip junk: status %d, want 413 before decoding", len(junk), code)
	}
}
