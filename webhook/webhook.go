package webhook

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/stats/v4"
)

// Request is one delivery as the Webhook received it. Body is the decoded
// body (gzip already undone). Header is the request's own header map: treat
// it as read-only, it is shared by everyone the Request is handed to.
type Request struct {
	RemoteAddr, Method, Proto, RawURL string
	Header                            http.Header
	Body                              string
	ReceivedAt                        time.Time
}

// Logger records accepted deliveries. Record must be safe for concurrent use
// and should not block: the Webhook answers 200 once Record returns.
type Logger interface{ Record(Request) }

// CheckedLogger is a Logger that can fail to keep a delivery, for example a cluster relay
// whose Kafka is unreachable. When a Webhook's Logger implements it, the Webhook calls
// RecordChecked instead of Record and answers 503 with Retry-After when it returns an error
// (rejection reason "unavailable"), so the sender retries instead of the delivery being lost.
type CheckedLogger interface {
	Logger
	RecordChecked(Request) error
}

// DefaultMaxBodyBytes is the default of Config.MaxBodyBytes (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// DefaultSignatureHeader is the default of Config.SignatureHeader.
const DefaultSignatureHeader = "X-Signature"

// Config configures a Webhook. The zero value works: it accepts unsigned
// deliveries of at most 1 MiB and drops them.
type Config struct {
	// Logger receives every accepted delivery. Nil drops them (they are
	// still counted).
	Logger Logger
	// MaxBodyBytes caps the decoded body size; larger bodies get 413.
	// Default: 1 MiB (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Secret, when set, makes SignatureHeader mandatory: it must hold the
	// lowercase hex HMAC-SHA256 of the body bytes as sent on the wire
	// (before gzip decoding), optionally prefixed with "sha256=". Otherwise
	// the request gets 401. Default: none (no signature check).
	Secret []byte
	// SignatureHeader names the signature header. Default: "X-Signature".
	SignatureHeader string
	// Stats receives webhook.received_total and
	// webhook.rejected_total{reason}. Default: nil, no metrics.
	Stats *stats.Engine
}

// Webhook is the http.Handler that receives deliveries. It is safe for
// concurrent use.
//
// Status codes: 200 once the delivery is recorded; 405 (with Allow) for
// methods other than POST, PUT and PATCH; 413 when the body, decoded, is
// larger than MaxBodyBytes; 401 for a missing or wrong signature; 415 for a
// Content-Encoding other than gzip or identity; 400 for a corrupt gzip
// body or a body that cannot be read; 503 with Retry-After when a
// CheckedLogger could not keep the delivery.
type Webhook struct {
	logger    Logger
	max       int64
	wireMax   int64
	secret    []byte
	sigHeader string
	stats     *stats.Engine
	bufs      sync.Pool // *bytes.Buffer
}

// New returns a Webhook configured by c; zero fields take their defaults.
func New(c Config) *Webhook {
	w := &Webhook{
		logger:    c.Logger,
		max:       c.MaxBodyBytes,
		secret:    bytes.Clone(c.Secret),
		sigHeader: c.SignatureHeader,
		stats:     c.Stats,
	}
	if w.max <= 0 {
		w.max = DefaultMaxBodyBytes
	}
	// The wire cap leaves room for gzip framing of incompressible data
	// (5 bytes per 64 KiB stored block plus header and trailer); the decoded
	// cap is what MaxBodyBytes promises.
	w.wireMax = w.max + w.max/1024 + 1024
	if w.sigHeader == "" {
		w.sigHeader = DefaultSignatureHeader
	}
	w.bufs.New = func() any { return new(bytes.Buffer) }
	// Every counter exists at 0 from the start, so the first rejection is an increase.
	if w.stats != nil {
		w.stats.Add("webhook.received_total", 0)
		for _, reason := range rejectReasons {
			w.stats.Add("webhook.rejected_total", 0, stats.T("reason", reason))
		}
	}
	return w
}

const allowed = "POST, PUT, PATCH"

// Rejection reasons, as in docs/metrics.md.
const (
	reasonMethod       = "method"
	reasonTooLarge     = "too_large"
	reasonBadSignature = "bad_signature"
	reasonBadEncoding  = "bad_encoding"
	reasonReadError    = "read_error"
	reasonUnavailable  = "unavailable"
)

// rejectReasons lists every reason webhook.rejected_total can carry; New creates each
// series at 0.
var rejectReasons = [...]string{
	reasonMethod, reasonTooLarge, reasonBadSignature, reasonBadEncoding, reasonReadError, reasonUnavailable,
}

func (w *Webhook) reject(rw http.ResponseWriter, code int, reason, msg string) {
	if w.stats != nil {
		w.stats.Incr("webhook.rejected_total", stats.T("reason", reason))
	}
	http.Error(rw, msg, code)
}

// ServeHTTP implements http.Handler.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if w.stats != nil {
		w.stats.Incr("webhook.received_total")
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		rw.Header().Set("Allow", allowed)
		w.reject(rw, http.StatusMethodNotAllowed, reasonMethod, "method not allowed: use POST, PUT or PATCH")
		return
	}
	gz := false
	switch enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); {
	case enc == "", strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip"), strings.EqualFold(enc, "x-gzip"):
		gz = true
	default:
		w.reject(rw, http.StatusUnsupportedMediaType, reasonBadEncoding, "unsupported Content-Encoding: use gzip or identity")
		return
	}
	wireMax := w.max
	if gz {
		wireMax = w.wireMax
	}
	if r.ContentLength > wireMax {
		w.reject(rw, http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large")
		return
	}

	buf := w.bufs.Get().(*bytes.Buffer)
	defer w.putBuf(buf)
	buf.Reset()
	var body io.Reader = http.MaxBytesReader(rw, r.Body, wireMax)
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.reject(rw, http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large")
			return
		}
		w.reject(rw, http.StatusBadRequest, reasonReadError, "cannot read body")
		return
	}
	wire := buf.Bytes()

	if len(w.secret) > 0 && !validSignature(w.secret, r.Header.Get(w.sigHeader), wire) {
		w.reject(rw, http.StatusUnauthorized, reasonBadSignature, "missing or invalid signature")
		return
	}

	var decoded string
	if gz {
		s, code, reason, msg := w.gunzip(wire)
		if code != 0 {
			w.reject(rw, code, reason, msg)
			return
		}
		decoded = s
	} else {
		decoded = string(wire)
	}

	rawURL := r.RequestURI
	if rawURL == "" && r.URL != nil {
		rawURL = r.URL.String()
	}
	if w.logger != nil {
		req := Request{
			RemoteAddr: r.RemoteAddr,
			Method:     r.Method,
			Proto:      r.Proto,
			RawURL:     rawURL,
			Header:     r.Header,
			Body:       decoded,
			ReceivedAt: now,
		}
		if cl, ok := w.logger.(CheckedLogger); ok {
			if err := cl.RecordChecked(req); err != nil {
				rw.Header().Set("Retry-After", "1")
				w.reject(rw, http.StatusServiceUnavailable, reasonUnavailable, "delivery not recorded, retry: "+err.Error())
				return
			}
		} else {
			w.logger.Record(req)
		}
	}
	rw.WriteHeader(http.StatusOK)
}

// gunzip decodes wire with the decoded-size cap. A non-zero code means reject.
func (w *Webhook) gunzip(wire []byte) (body string, code int, reason, msg string) {
	zr, err := gzip.NewReader(bytes.NewReader(wire))
	if err != nil {
		return "", http.StatusBadRequest, reasonBadEncoding, "corrupt gzip body"
	}
	defer zr.Close()
	out := w.bufs.Get().(*bytes.Buffer)
	defer w.putBuf(out)
	out.Reset()
	// Read one byte past the cap to tell "exactly max" from "too large"
	// without ever holding more than max+1 decoded bytes.
	n, err := out.ReadFrom(io.LimitReader(zr, w.max+1))
	if err != nil {
		return "", http.StatusBadRequest, reasonBadEncoding, "corrupt gzip body"
	}
	if n > w.max {
		return "", http.StatusRequestEntityTooLarge, reasonTooLarge, "decoded body too large"
	}
	return out.String(), 0, "", ""
}

// putBuf returns a buffer to the pool unless it grew large, so one big
// delivery does not pin its memory.
func (w *Webhook) putBuf(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	w.bufs.Put(b)
}
