package webhook_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/webhook"
)

// A signer signs requests the way a pipeline using one scheme does.
type signer struct {
	scheme webhook.Scheme
	// sign sets the signature headers of req for body under secret. Each
	// call is a new delivery (a new webhook-id).
	sign func(req *http.Request, secret, body []byte)
}

var deliverySeq atomic.Int64

func newDeliveryID() string { return fmt.Sprintf("msg_test%d", deliverySeq.Add(1)) }

// signStandard sets the Standard Webhooks headers for a delivery with id at ts.
func signStandard(req *http.Request, secret []byte, id string, ts time.Time, body []byte) {
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", webhook.SignStandard(secret, id, ts, body))
}

var signers = []signer{
	{webhook.SchemeStandardWebhooks, func(req *http.Request, secret, body []byte) {
		signStandard(req, secret, newDeliveryID(), time.Now(), body)
	}},
	{webhook.SchemeXSignature, func(req *http.Request, secret, body []byte) {
		req.Header.Set("X-Signature", webhook.Sign(secret, body))
	}},
}

// measureCounts sums a statstest handler's measures by name (and reason tag).
func measureCounts(h *statstest.Handler) map[string]int {
	out := map[string]int{}
	for _, m := range h.Measures() {
		for _, f := range m.Fields {
			name := m.Name + "." + f.Name
			for _, tag := range m.Tags {
				if tag.Name == "reason" {
					name += "/" + tag.Value
				}
			}
			out[name] += int(f.Value.Int())
		}
	}
	return out
}

// TestSignatureSuite is the behaviour both schemes share, run against each.
func TestSignatureSuite(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"messageId":"m1"}`)
	zbody := gz(t, string(body))
	tests := []struct {
		name       string
		send       []byte // the body sent
		signed     []byte // the bytes signed; nil: unsigned
		signSecret []byte // default: secret
		gzip       bool
		wantCode   int
		wantBody   string
		wantReason string
	}{
		{name: "signed", send: body, signed: body, wantCode: 200, wantBody: string(body)},
		{name: "empty body signed", send: nil, signed: []byte{}, wantCode: 200, wantBody: ""},
		{name: "gzip signs the wire bytes", send: zbody, signed: zbody, gzip: true, wantCode: 200, wantBody: string(body)},
		{name: "gzip signed over the decoded bytes", send: zbody, signed: body, gzip: true, wantCode: 401, wantReason: "bad_signature"},
		{name: "missing signature", send: body, wantCode: 401, wantReason: "bad_signature"},
		{name: "wrong secret", send: body, signed: body, signSecret: []byte("other"), wantCode: 401, wantReason: "bad_signature"},
		{name: "signature of another body", send: body, signed: []byte("{}"), wantCode: 401, wantReason: "bad_signature"},
		{name: "large body streamed", send: bytes.Repeat([]byte("x"), 300<<10), signed: bytes.Repeat([]byte("x"), 300<<10), wantCode: 200, wantBody: strings.Repeat("x", 300<<10)},
		{name: "large body, last byte altered", send: append(bytes.Repeat([]byte("x"), 300<<10-1), 'y'), signed: bytes.Repeat([]byte("x"), 300<<10), wantCode: 401, wantReason: "bad_signature"},
	}
	for _, sg := range signers {
		t.Run(sg.scheme.String(), func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					rec := &recorder{}
					h := &statstest.Handler{}
					wh := webhook.New(webhook.Config{Logger: rec, Secret: secret, Scheme: sg.scheme, Stats: stats.NewEngine("", h)})
					req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(tt.send))
					if tt.gzip {
						req.Header.Set("Content-Encoding", "gzip")
					}
					if tt.signed != nil {
						key := secret
						if tt.signSecret != nil {
							key = tt.signSecret
						}
						sg.sign(req, key, tt.signed)
					}
					rw := httptest.NewRecorder()
					wh.ServeHTTP(rw, req)
					if rw.Code != tt.wantCode {
						t.Fatalf("status %d, want %d (%s)", rw.Code, tt.wantCode, rw.Body)
					}
					got := rec.all()
					if tt.wantCode == 200 {
						if len(got) != 1 || got[0].Body != tt.wantBody {
							t.Fatalf("recorded %d requests (%.40q...), want 1 with the body", len(got), got)
						}
					} else if len(got) != 0 {
						t.Fatalf("rejected request was recorded")
					}
					if tt.wantReason != "" && measureCounts(h)["webhook.rejected_total/"+tt.wantReason] != 1 {
						t.Fatalf("rejected_total{reason=%s} not counted: %v", tt.wantReason, measureCounts(h))
					}
				})
			}
		})
	}
}

// TestSignatureCheckedBeforeTheBodyIsRead: a request without a usable
// signature header is refused without reading a byte of its body, under
// both schemes.
func TestSignatureCheckedBeforeTheBodyIsRead(t *testing.T) {
	for _, sg := range signers {
		t.Run(sg.scheme.String(), func(t *testing.T) {
			wh := webhook.New(webhook.Config{Secret: []byte("k"), Scheme: sg.scheme})
			var read atomic.Int64
			body := readCounter{r: strings.NewReader(strings.Repeat("x", 1<<20)), n: &read}
			req := httptest.NewRequest("POST", "/webhook", body)
			rw := httptest.NewRecorder()
			wh.ServeHTTP(rw, req)
			if rw.Code != 401 || read.Load() != 0 {
				t.Fatalf("status %d after reading %d body bytes, want 401 after none", rw.Code, read.Load())
			}
		})
	}
}

type readCounter struct {
	r io.Reader
	n *atomic.Int64
}

func (c readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestXSignatureScheme(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"messageId":"m1"}`)
	tests := []struct {
		name   string
		header string
		value  string
		want   int
	}{
		{"sha256= prefix", "X-Signature", "sha256=" + webhook.Sign(secret, body), 200},
		{"uppercase hex", "X-Signature", strings.ToUpper(webhook.Sign(secret, body)), 401},
		{"short", "X-Signature", "abcd", 401},
		{"custom header", "X-Hub-Signature-256", webhook.Sign(secret, body), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := webhook.Config{Secret: secret, Scheme: webhook.SchemeXSignature}
			if tt.header != "X-Signature" {
				cfg.SignatureHeader = tt.header
			}
			req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
			req.Header.Set(tt.header, tt.value)
			rw := httptest.NewRecorder()
			webhook.New(cfg).ServeHTTP(rw, req)
			if rw.Code != tt.want {
				t.Fatalf("status %d, want %d", rw.Code, tt.want)
			}
		})
	}
}

func TestStandardWebhooksHeaders(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"messageId":"m1"}`)
	now := time.Now()
	tests := []struct {
		name       string
		set        func(req *http.Request)
		want       int
		wantReason string
	}{
		{"timestamp 6 minutes old", func(r *http.Request) { signStandard(r, secret, "msg_old", now.Add(-6*time.Minute), body) }, 401, "stale_timestamp"},
		{"timestamp 6 minutes ahead", func(r *http.Request) { signStandard(r, secret, "msg_new", now.Add(6*time.Minute), body) }, 401, "stale_timestamp"},
		{"timestamp 4 minutes old", func(r *http.Request) { signStandard(r, secret, "msg_4m", now.Add(-4*time.Minute), body) }, 200, ""},
		{"timestamp not a number", func(r *http.Request) {
			signStandard(r, secret, "msg_nan", now, body)
			r.Header.Set("webhook-timestamp", "soon")
		}, 401, "bad_signature"},
		{"timestamp re-signed by someone without the secret", func(r *http.Request) {
			signStandard(r, secret, "msg_resigned", now.Add(-time.Hour), body)
			r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		}, 401, "bad_signature"},
		{"id swapped", func(r *http.Request) {
			signStandard(r, secret, "msg_a", now, body)
			r.Header.Set("webhook-id", "msg_b")
		}, 401, "bad_signature"},
		{"missing id", func(r *http.Request) {
			signStandard(r, secret, "msg_x", now, body)
			r.Header.Del("webhook-id")
		}, 401, "bad_signature"},
		{"id too long", func(r *http.Request) { signStandard(r, secret, strings.Repeat("i", 257), now, body) }, 401, "bad_signature"},
		{"rotation: one of several signatures matches", func(r *http.Request) {
			signStandard(r, secret, "msg_rot", now, body)
			r.Header.Set("webhook-signature", webhook.SignStandard([]byte("old"), "msg_rot", now, body)+" v1a,AAAA "+r.Header.Get("webhook-signature"))
		}, 200, ""},
		{"only an asymmetric signature", func(r *http.Request) {
			signStandard(r, secret, "msg_v1a", now, body)
			r.Header.Set("webhook-signature", "v1a,"+strings.TrimPrefix(r.Header.Get("webhook-signature"), "v1,"))
		}, 401, "bad_signature"},
		{"X-Signature is not accepted instead", func(r *http.Request) { r.Header.Set("X-Signature", webhook.Sign(secret, body)) }, 401, "bad_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &statstest.Handler{}
			rec := &recorder{}
			wh := webhook.New(webhook.Config{Logger: rec, Secret: secret, Stats: stats.NewEngine("", h)})
			req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
			tt.set(req)
			rw := httptest.NewRecorder()
			wh.ServeHTTP(rw, req)
			if rw.Code != tt.want {
				t.Fatalf("status %d, want %d (%s)", rw.Code, tt.want, rw.Body)
			}
			if tt.wantReason != "" && measureCounts(h)["webhook.rejected_total/"+tt.wantReason] != 1 {
				t.Fatalf("rejected_total{reason=%s} not counted: %v", tt.wantReason, measureCounts(h))
			}
			if tt.want == 200 && (len(rec.all()) != 1 || rec.all()[0].DeliveryID != req.Header.Get("webhook-id")) {
				t.Fatalf("recorded %+v, want one delivery with its DeliveryID", rec.all())
			}
		})
	}
}

// TestStandardWebhooksReferenceVector verifies the specification's own test
// vector (the one every reference library checks) with a whsec_ secret.
func TestStandardWebhooksReferenceVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if got := webhook.SignStandard([]byte(secret), id, time.Unix(ts, 0), []byte(body)); got != want {
		t.Fatalf("SignStandard = %q, want %q", got, want)
	}
	rec := &recorder{}
	wh := webhook.New(webhook.Config{Logger: rec, Secret: []byte(secret), Clock: func() time.Time { return time.Unix(ts+10, 0) }})
	req := httptest.NewRequest("POST", "/webhook", strings.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.Itoa(ts))
	req.Header.Set("webhook-signature", want)
	rw := httptest.NewRecorder()
	wh.ServeHTTP(rw, req)
	if rw.Code != 200 || len(rec.all()) != 1 {
		t.Fatalf("reference delivery: status %d, %d recorded", rw.Code, len(rec.all()))
	}
}

// TestReplaysAreAnsweredButNotRecorded: a captured delivery re-sent byte for
// byte (a replay, or the sender's own retry) is answered 200, counted in
// webhook.replayed_total and never recorded twice, for as long as its
// timestamp is inside the tolerance; after that it is refused as stale.
// A new delivery id with the same body is a new delivery.
func TestReplaysAreAnsweredButNotRecorded(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"messageId":"m1"}`)
	clock := newFakeClock()
	h := &statstest.Handler{}
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	wh := webhook.New(webhook.Config{Logger: rl, Secret: secret, Stats: stats.NewEngine("", h), Clock: clock.Now})
	if err := rl.Sent("m1"); err != nil {
		t.Fatal(err)
	}
	captured := httptest.NewRequest("POST", "/webhook", nil)
	signStandard(captured, secret, "msg_captured", clock.Now(), body)
	send := func(hdr http.Header) int {
		req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
		req.Header = hdr.Clone()
		rw := httptest.NewRecorder()
		wh.ServeHTTP(rw, req)
		return rw.Code
	}
	if code := send(captured.Header); code != 200 {
		t.Fatalf("first delivery: %d", code)
	}
	for _, after := range []time.Duration{0, time.Minute, 4 * time.Minute} {
		clock.Advance(after)
		if code := send(captured.Header); code != 200 {
			t.Fatalf("replay after %v: %d, want 200", after, code)
		}
	}
	if n := len(rl.Received("m1")); n != 1 {
		t.Fatalf("%d deliveries recorded for m1 after replays, want 1", n)
	}
	if c := measureCounts(h)["webhook.replayed_total"]; c != 3 {
		t.Fatalf("replayed_total = %d, want 3", c)
	}
	// Past the tolerance the replay is stale, also once its id is forgotten.
	clock.Advance(2 * time.Minute)
	if code := send(captured.Header); code != 401 {
		t.Fatalf("replay 7 minutes on: %d, want 401", code)
	}
	clock.Advance(10 * time.Minute)
	if code := send(captured.Header); code != 401 {
		t.Fatalf("replay 17 minutes on: %d, want 401", code)
	}
	// A genuine duplicate (a new delivery id, the same event) is recorded:
	// the RouteLogger sees it as the duplicate it is.
	dup := httptest.NewRequest("POST", "/webhook", nil)
	signStandard(dup, secret, "msg_second", clock.Now(), body)
	if code := send(dup.Header); code != 200 {
		t.Fatalf("duplicate delivery: %d", code)
	}
	if n := len(rl.Received("m1")); n != 2 {
		t.Fatalf("%d deliveries recorded for m1 after a genuine duplicate, want 2", n)
	}
}

// blockingLogger blocks in RecordChecked until release is closed, failing
// the first call with fail.
type blockingLogger struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	calls   int
	fail    error
	got     []webhook.Request
}

func (b *blockingLogger) Record(r webhook.Request) { _ = b.RecordChecked(r) }
func (b *blockingLogger) RecordChecked(r webhook.Request) error {
	b.mu.Lock()
	b.calls++
	first := b.calls == 1
	b.mu.Unlock()
	if first {
		close(b.entered)
		<-b.release
		return b.fail
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, r)
	return nil
}

// TestRetryOfAnUnrecordedDeliveryIsRecorded: when the Logger could not keep
// a delivery (503), the sender's retry with the same id is recorded, not
// taken for a replay; a retry arriving while the first attempt is still
// being recorded gets 503 so that it is tried again.
func TestRetryOfAnUnrecordedDeliveryIsRecorded(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"messageId":"m1"}`)
	l := &blockingLogger{entered: make(chan struct{}), release: make(chan struct{}), fail: errors.New("kafka unreachable")}
	wh := webhook.New(webhook.Config{Logger: l, Secret: secret})
	hdr := httptest.NewRequest("POST", "/", nil)
	signStandard(hdr, secret, "msg_retry", time.Now(), body)
	send := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
		req.Header = hdr.Header.Clone()
		rw := httptest.NewRecorder()
		wh.ServeHTTP(rw, req)
		return rw
	}
	first := make(chan int, 1)
	go func() { first <- send().Code }()
	<-l.entered
	if rw := send(); rw.Code != 503 || rw.Header().Get("Retry-After") == "" {
		t.Fatalf("retry while the first attempt is in flight: %d (Retry-After %q), want 503 with Retry-After", rw.Code, rw.Header().Get("Retry-After"))
	}
	close(l.release)
	if code := <-first; code != 503 {
		t.Fatalf("first attempt: %d, want 503 from the failing logger", code)
	}
	if rw := send(); rw.Code != 200 {
		t.Fatalf("retry after the failure: %d, want 200", rw.Code)
	}
	if rw := send(); rw.Code != 200 {
		t.Fatalf("retry after success: %d, want 200", rw.Code)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.got) != 1 {
		t.Fatalf("recorded %d times, want once", len(l.got))
	}
}

// TestDeliveryIDMemoryIsBounded: past MaxDeliveryIDs ids within the window,
// new deliveries get 503 (never an unbounded map, never a forgotten id that
// could be replayed); once ids expire they are accepted again.
func TestDeliveryIDMemoryIsBounded(t *testing.T) {
	secret := []byte("s3cret")
	clock := newFakeClock()
	rec := &recorder{}
	wh := webhook.New(webhook.Config{Logger: rec, Secret: secret, MaxDeliveryIDs: 3, Clock: clock.Now})
	send := func(id string) int {
		body := []byte(`{"messageId":"` + id + `"}`)
		req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
		signStandard(req, secret, id, clock.Now(), body)
		rw := httptest.NewRecorder()
		wh.ServeHTTP(rw, req)
		return rw.Code
	}
	for i := range 3 {
		if code := send(fmt.Sprintf("msg_%d", i)); code != 200 {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	if code := send("msg_3"); code != 503 {
		t.Fatalf("delivery past the cap: %d, want 503", code)
	}
	clock.Advance(2*webhook.DefaultTolerance + time.Second)
	if code := send("msg_4"); code != 200 {
		t.Fatalf("delivery after the window: %d, want 200", code)
	}
}

func TestReplayedTotalExistsAtZero(t *testing.T) {
	ph := &prometheus.Handler{}
	webhook.New(webhook.Config{Stats: stats.NewEngine("orbital", ph)})
	rw := httptest.NewRecorder()
	ph.ServeHTTP(rw, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rw.Body.String(), "orbital_webhook_replayed_total 0") {
		t.Fatalf("no orbital_webhook_replayed_total 0 before any replay:\n%s", rw.Body.String())
	}
}

// TestUnauthenticatedBytesBudget: slow bodies not yet authenticated hold
// the shared budget; a request that does not fit gets 503 with Retry-After
// (reason busy) instead of memory, and requests pass again once the slow
// ones end.
func TestUnauthenticatedBytesBudget(t *testing.T) {
	for _, sg := range signers {
		t.Run(sg.scheme.String(), func(t *testing.T) {
			secret := []byte("s3cret")
			h := &statstest.Handler{}
			wh := webhook.New(webhook.Config{Secret: secret, Scheme: sg.scheme, MaxUnauthenticatedBytes: 128 << 10, Stats: stats.NewEngine("", h)})
			srv := httptest.NewServer(wh)
			defer srv.Close()

			// A slow, forged 1 MiB body: valid-looking headers, 96 KiB sent,
			// then silence.
			pr, pw := io.Pipe()
			slow, _ := http.NewRequest("POST", srv.URL, pr)
			slow.ContentLength = 1 << 20
			sg.sign(slow, []byte("forged"), []byte("x"))
			slowDone := make(chan struct{})
			go func() {
				defer close(slowDone)
				if resp, err := srv.Client().Do(slow); err == nil {
					resp.Body.Close()
				}
			}()
			if _, err := pw.Write(bytes.Repeat([]byte("x"), 96<<10)); err != nil {
				t.Fatal(err)
			}

			body := []byte(`{"messageId":"m1"}`)
			post := func() *http.Response {
				req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
				sg.sign(req, secret, body)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			// The slow body holds the budget: a signed delivery is refused.
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp := post()
				if resp.StatusCode == 503 {
					if resp.Header.Get("Retry-After") == "" {
						t.Fatal("503 without Retry-After")
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a delivery still got %d while a slow body held the budget", resp.StatusCode)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if measureCounts(h)["webhook.rejected_total/busy"] < 1 {
				t.Fatalf("busy not counted: %v", measureCounts(h))
			}
			// The slow body ends (short: 400); the budget is back.
			pw.CloseWithError(errors.New("attacker gone"))
			<-slowDone
			deadline = time.Now().Add(10 * time.Second)
			for post().StatusCode != 200 {
				if time.Now().After(deadline) {
					t.Fatal("deliveries still refused after the slow body ended")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"messageId":"m1"}`)
	for _, sg := range signers {
		t.Run(sg.scheme.String(), func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", nil)
			sg.sign(req, secret, body)
			if err := webhook.VerifySignature(secret, req.Header, body); err != nil {
				t.Errorf("valid: %v", err)
			}
			if err := webhook.VerifySignature([]byte("other"), req.Header, body); !errors.Is(err, webhook.ErrBadSignature) {
				t.Errorf("wrong secret: %v, want ErrBadSignature", err)
			}
			if err := webhook.VerifySignature(secret, req.Header, []byte("{}")); !errors.Is(err, webhook.ErrBadSignature) {
				t.Errorf("other body: %v, want ErrBadSignature", err)
			}
		})
	}
	if err := webhook.VerifySignature(secret, http.Header{}, body); !errors.Is(err, webhook.ErrNoSignature) {
		t.Errorf("unsigned: %v, want ErrNoSignature", err)
	}
}
