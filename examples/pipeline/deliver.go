package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	stats "github.com/segmentio/stats/v4"
)

// Sign returns the X-Signature value for body: the hex-encoded HMAC-SHA256 of
// the exact body bytes under secret. A receiver recomputes it over the bytes
// it read and compares with hmac.Equal.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Signature schemes of Config.Signature.
const (
	// SignatureStandardWebhooks signs as Standard Webhooks
	// (https://www.standardwebhooks.com): webhook-id (one per delivery of
	// an event to a destination, the same on every retry), webhook-timestamp
	// (Unix seconds of the attempt) and webhook-signature
	// "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
	SignatureStandardWebhooks = "standard-webhooks"
	// SignatureXSignature signs with X-Signature: the hex HMAC-SHA256 of the
	// body alone (no id, no timestamp: a receiver cannot refuse replays).
	SignatureXSignature = "x-signature"
)

// SignStandard returns the webhook-signature value of a Standard Webhooks
// delivery: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body" under
// the key of secret (see SecretKey).
func SignStandard(secret []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, SecretKey(secret))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SecretKey returns the HMAC key of a Standard Webhooks secret: a secret
// "whsec_<base64>" (the spec's serialisation) gives the decoded bytes; any
// other secret, or one whose remainder is not base64, is used as it is.
func SecretKey(secret []byte) []byte {
	rest, ok := bytes.CutPrefix(secret, []byte("whsec_"))
	if !ok {
		return secret
	}
	key, err := base64.StdEncoding.DecodeString(string(rest))
	if err != nil {
		return secret
	}
	return key
}

// newDeliveryID returns a Standard Webhooks webhook-id: "msg_" and 128
// random bits. It is not derived from the event (a messageId is chosen by
// whoever sent the event, and must not reach the signed prefix).
func newDeliveryID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// attemptResult is the outcome of one delivery attempt.
type attemptResult struct {
	status     int           // HTTP status; 0 on network error
	err        error         // network error
	retryAfter time.Duration // parsed Retry-After, 0 if none
}

func (r attemptResult) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

func (r attemptResult) retryable() bool {
	return r.err != nil || r.status >= 500 || r.status == http.StatusTooManyRequests
}

// String describes the result as a dead letter's error header does: "destination
// answered 503", or the network error ("POST http://host/path: ...", the URL
// without credentials).
func (r attemptResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("destination answered %d", r.status)
}

// deliver POSTs d's body to dest until it succeeds, retrying network errors,
// 5xx and 429 with backoff up to MaxAttempts, and dead-letters it otherwise.
// With d.dup set it delivers a second copy after the first succeeded. It
// returns false only when ctx ended first.
func (w *worker) deliver(ctx context.Context, dest string, d delivery) bool {
	p := w.p
	copies := 1
	if d.dup {
		copies = 2
	}
	for c := range copies {
		// One delivery id per copy: retries of a copy share it (the
		// receiver answers them 2xx without recording twice); a duplicated
		// copy is a new delivery, as a real duplicate would be.
		deliveryID := newDeliveryID()
		var res attemptResult
		attempt := 1
		for ; ; attempt++ {
			if attempt > 1 {
				p.stats.Incr("retried_total")
			}
			res = w.attempt(ctx, dest, d, deliveryID, attempt)
			if ctx.Err() != nil {
				return false
			}
			if res.ok() || !res.retryable() || attempt >= p.cfg.MaxAttempts {
				break
			}
			wait := backoff(p.cfg.BackoffMin, p.cfg.BackoffMax, attempt)
			wait = max(wait, min(res.retryAfter, p.cfg.RetryAfterMax))
			p.log.Debug("delivery failed; retrying", "message_id", d.id, "destination", redactURL(dest),
				"attempt", attempt, "result", res.String(), "wait", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		if !res.ok() {
			p.log.Warn("delivery failed; dead-lettering", "message_id", d.id, "destination", redactURL(dest),
				"attempts", attempt, "result", res.String())
			return w.deadLetter(ctx, []byte(d.id), d.body, d.tc,
				failure{reason: res.String(), dest: dest, attempts: attempt, status: res.status})
		}
		if c == 0 {
			p.stats.Incr("delivered_total")
			p.stats.Observe("delivery.latency_seconds", time.Since(d.received))
		}
	}
	return true
}

// attempt makes delivery attempt n, or fakes a 503 under Faults.Dest5xx. With
// a trace context, each attempt carries a traceparent of its own span: d's
// trace id and flags, a new random parent id; and d's tracestate.
func (w *worker) attempt(ctx context.Context, dest string, d delivery, deliveryID string, n int) attemptResult {
	p := w.p
	body := d.body
	if hit(p.Faults().Dest5xx) {
		p.stats.Incr("faults_injected_total", stats.T("fault", faultDest5xx))
		return attemptResult{status: http.StatusServiceUnavailable}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, bytes.NewReader(body))
	if err != nil {
		return attemptResult{err: fmt.Errorf("building request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "orbital-example-pipeline/1")
	switch p.cfg.Signature {
	case SignatureXSignature:
		req.Header.Set("X-Signature", Sign(p.cfg.DestinationSecret, body))
	default:
		ts := time.Now().Unix()
		req.Header.Set("webhook-id", deliveryID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", SignStandard(p.cfg.DestinationSecret, deliveryID, ts, body))
	}
	req.Header.Set("X-Attempt", strconv.Itoa(n))
	req.Header.Set("X-Message-Id", d.id)
	d.tc.child().setHTTP(req.Header)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return attemptResult{err: fmt.Errorf("POST %s: %w", redactURL(dest), stripURLError(err))}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	_ = resp.Body.Close()
	return attemptResult{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// stripURLError drops *url.Error's URL (it may hold credentials).
func stripURLError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok {
		if inner := u.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// backoff returns the wait after failed attempt n (1-based): BackoffMin*2^(n-1)
// capped at BackoffMax, jittered to between half and all of it.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// failure is why an event is dead-lettered.
type failure struct {
	reason   string // the error header
	dest     string // destination URL; "" when the event was not delivered at all
	attempts int    // delivery attempts made
	status   int    // HTTP status of the last attempt; 0 for a network error
}

// deadLetter writes an event to the dead-letter topic, retrying until it is
// acknowledged or ctx ends. Its headers are error, and for a failed delivery
// destination (without credentials), attempts and status, then the trace
// context tc (traceparent, tracestate) as consumed. It returns false only
// when ctx ended first.
func (w *worker) deadLetter(ctx context.Context, key, value []byte, tc traceContext, f failure) bool {
	p := w.p
	headers := []kafka.Header{{Key: "error", Value: []byte(f.reason)}}
	if f.dest != "" {
		headers = append(headers,
			kafka.Header{Key: "destination", Value: []byte(redactURL(f.dest))},
			kafka.Header{Key: "attempts", Value: []byte(strconv.Itoa(f.attempts))},
			kafka.Header{Key: "status", Value: []byte(strconv.Itoa(f.status))})
	}
	headers = append(headers, tc.kafkaHeaders()...)
	msg := kafka.Message{Key: key, Value: value, Headers: headers}
	if !w.produce(ctx, p.dlq, "dead-letter", msg) {
		return false
	}
	p.stats.Incr("dead_lettered_total")
	return true
}

// output writes a processed event to Config.OutputTopic (twice under the dup fault), with the
// consumed trace context as headers, retrying with backoff until it is written or ctx ends;
// false means the event stays uncommitted.
func (w *worker) output(ctx context.Context, d delivery) bool {
	p := w.p
	msgs := []kafka.Message{{Key: d.key, Value: d.body, Headers: d.tc.kafkaHeaders()}}
	if d.dup {
		msgs = append(msgs, kafka.Message{Key: d.key, Value: d.body, Headers: d.tc.kafkaHeaders()})
	}
	if !w.produce(ctx, p.out, "output topic", msgs...) {
		return false
	}
	p.stats.Add("output_produced_total", len(msgs))
	return true
}

// produce writes msgs with wr, retrying with backoff until they are written or ctx ends.
func (w *worker) produce(ctx context.Context, wr *kafka.Writer, what string, msgs ...kafka.Message) bool {
	p := w.p
	wait := p.cfg.BackoffMin
	for {
		wctx, cancel := context.WithTimeout(ctx, p.cfg.ProduceTimeout)
		err := wr.WriteMessages(wctx, msgs...)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.log.Warn(what+" write failed; retrying", "err", err, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, p.cfg.BackoffMax)
	}
}
