package webhook

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/segmentio/stats/v4"
)

// Request is one delivery as the Webhook received it. Body is the decoded
// body (gzip already undone). Header is the request's own header map: treat
// it as read-only, it is shared by everyone the Request is handed to.
// DeliveryID is the Standard Webhooks webhook-id ("" under SchemeXSignature
// or when absent).
type Request struct {
	RemoteAddr, Method, Proto, RawURL string
	Header                            http.Header
	Body                              string
	ReceivedAt                        time.Time
	DeliveryID                        string
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

// Defaults of Config.
const (
	// DefaultMaxBodyBytes is the default of Config.MaxBodyBytes (1 MiB).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultSignatureHeader is the default of Config.SignatureHeader.
	DefaultSignatureHeader = "X-Signature"
	// DefaultTolerance is the default of Config.Tolerance (5 minutes, as
	// the Standard Webhooks reference libraries).
	DefaultTolerance = 5 * time.Minute
	// DefaultMaxDeliveryIDs is the default of Config.MaxDeliveryIDs.
	DefaultMaxDeliveryIDs = 100_000
	// DefaultMaxUnauthenticatedBytes is the default of
	// Config.MaxUnauthenticatedBytes (32 MiB).
	DefaultMaxUnauthenticatedBytes = 32 << 20
)

// Config configures a Webhook. The zero value works: it accepts unsigned
// deliveries of at most 1 MiB and drops them.
type Config struct {
	// Logger receives every accepted delivery. Nil drops them (they are
	// still counted).
	Logger Logger
	// MaxBodyBytes caps the decoded body size; larger bodies get 413.
	// Default: 1 MiB (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Secret, when set, makes a valid signature under Scheme mandatory
	// (otherwise 401); the signature covers the body bytes as sent on the
	// wire (before gzip decoding). The signature headers are checked
	// before the body is read, so a request without one is refused without
	// reading it, and the MAC is computed as the body streams in.
	// Default: none (no signature check).
	Secret []byte
	// Scheme is the signature scheme. Default: SchemeStandardWebhooks.
	Scheme Scheme
	// SignatureHeader names the signature header of SchemeXSignature.
	// Default: "X-Signature".
	SignatureHeader string
	// Tolerance is how far a Standard Webhooks webhook-timestamp may be
	// from now, either way, when Secret is set; beyond it the request gets
	// 401 (reason "stale_timestamp"). Default: 5 minutes
	// (DefaultTolerance).
	Tolerance time.Duration
	// MaxDeliveryIDs caps the Standard Webhooks delivery ids remembered to
	// answer a replay or a transport retry of a recorded delivery with 200
	// without recording it again (counted in webhook.replayed_total). Each
	// id (at most 256 bytes; kept as a 128-bit hash, 50 to 100 bytes whatever
	// its length) is kept, once recorded, for twice the Tolerance after its
	// request arrived (when its timestamp was checked), so a delivery cannot
	// be replayed with a timestamp still inside the tolerance once its id is
	// forgotten. When the cap is
	// reached new deliveries get 503 with Retry-After (reason "busy") until
	// ids expire: memory stays bounded and no replay slips through.
	// Default: 100,000 (DefaultMaxDeliveryIDs).
	MaxDeliveryIDs int
	// MaxUnauthenticatedBytes is the budget, shared by all requests, of
	// body bytes read but not yet authenticated and recorded. A request
	// whose next read would exceed it gets 503 with Retry-After (reason
	// "busy"), so a flood of slow or forged bodies costs at most this
	// much memory. Bodies are read in chunks of at most 32 KiB, each
	// counted when it is allocated. Default: 32 MiB
	// (DefaultMaxUnauthenticatedBytes).
	MaxUnauthenticatedBytes int64
	// Stats receives webhook.received_total, webhook.rejected_total{reason}
	// and webhook.replayed_total (created at 0). Default: nil, no metrics.
	Stats *stats.Engine
	// Clock is the clock for timestamps and the replay window (tests use a
	// fake one). Default: time.Now.
	Clock func() time.Time
}

// Webhook is the http.Handler that receives deliveries. It is safe for
// concurrent use.
//
// Status codes: 200 once the delivery is recorded, and for a delivery whose
// Standard Webhooks id was recorded before (a replay or a transport retry:
// not recorded again); 405 (with Allow) for methods other than POST, PUT and
// PATCH; 413 when the body, decoded, is larger than MaxBodyBytes; 401 for a
// missing or wrong signature or a timestamp outside the tolerance; 415 for a
// Content-Encoding other than gzip or identity; 400 for a corrupt gzip body
// or a body that cannot be read; 503 with Retry-After when a CheckedLogger
// could not keep the delivery, when the unauthenticated-bytes budget or the
// delivery-id memory is full, or while the same delivery id is being
// recorded by another request.
type Webhook struct {
	logger    Logger
	max       int64
	wireMax   int64
	secret    []byte
	stdKey    []byte
	scheme    Scheme
	sigHeader string
	tolerance time.Duration
	seen      *seenIDs
	stats     *stats.Engine
	received  *series // webhook.received_total (nil without stats)
	now       func() time.Time
	bufs      sync.Pool // *bytes.Buffer
	macs      sync.Pool // *pooledMAC under the key

	// What every request writes, on a cache line of its own (the pads):
	// the fields above, which every request reads, stay in every CPU's
	// cache, and a request brings this one line to its CPU for both its
	// count and its budget (the count at arrival, the budget a moment
	// later) instead of two lines the CPUs keep taking from each other.
	_        [64]byte
	budget   budget
	arrivals atomic.Int64 // requests received: webhook.received_total's total under a batched handler
	_        [64]byte
}

// New returns a Webhook configured by c; zero fields take their defaults.
func New(c Config) *Webhook {
	w := &Webhook{
		logger:    c.Logger,
		max:       c.MaxBodyBytes,
		secret:    bytes.Clone(c.Secret),
		scheme:    c.Scheme,
		sigHeader: c.SignatureHeader,
		tolerance: c.Tolerance,
		stats:     c.Stats,
		now:       c.Clock,
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
	if w.tolerance <= 0 {
		w.tolerance = DefaultTolerance
	}
	w.stdKey = StandardKey(w.secret)
	maxIDs := c.MaxDeliveryIDs
	if maxIDs <= 0 {
		maxIDs = DefaultMaxDeliveryIDs
	}
	w.seen = newSeenIDs(2*w.tolerance, maxIDs)
	w.budget.max = c.MaxUnauthenticatedBytes
	if w.budget.max <= 0 {
		w.budget.max = DefaultMaxUnauthenticatedBytes
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.bufs.New = func() any { return new(bytes.Buffer) }
	// Every counter exists at 0 from the start, so the first rejection or replay is an
	// increase.
	if w.stats != nil {
		w.received = newCounterReading(w.stats, "webhook.received_total", w.arrivals.Load)
		w.stats.Add("webhook.received_total", 0)
		w.stats.Add("webhook.replayed_total", 0)
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
	reasonStale        = "stale_timestamp"
	reasonBadEncoding  = "bad_encoding"
	reasonReadError    = "read_error"
	reasonUnavailable  = "unavailable"
	reasonBusy         = "busy"
)

// rejectReasons lists every reason webhook.rejected_total can carry; New creates each
// series at 0.
var rejectReasons = [...]string{
	reasonMethod, reasonTooLarge, reasonBadSignature, reasonStale, reasonBadEncoding, reasonReadError,
	reasonUnavailable, reasonBusy,
}

func (w *Webhook) reject(rw http.ResponseWriter, code int, reason, msg string) {
	if w.stats != nil {
		w.stats.Incr("webhook.rejected_total", stats.T("reason", reason))
	}
	if code == http.StatusServiceUnavailable && rw.Header().Get("Retry-After") == "" {
		rw.Header().Set("Retry-After", "1")
	}
	http.Error(rw, msg, code)
}

// ServeHTTP implements http.Handler.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	now := w.now()
	w.arrivals.Add(1)
	w.received.add(1) // unless it reads arrivals
	gz, wireMax, ok := w.admit(rw, r)
	if !ok {
		return
	}
	// The signature headers are checked before a byte of the body is read.
	var sig signed
	if len(w.secret) == 0 {
		w.receive(rw, r, gz, wireMax, now, nil, nil)
		return
	}
	if !w.authenticate(rw, r.Header, now, &sig) {
		return
	}
	mac := w.newMAC(&sig)
	w.receive(rw, r, gz, wireMax, now, &sig, mac)
	// Not deferred: after a panic the MAC is only not reused. (Few defers
	// and returns here and in receive, so that the compiler open-codes them.)
	w.putMAC(mac)
}

// receive reads r's body, into mac when it is signed (sig), checks the
// signature and the delivery id, and delivers it.
func (w *Webhook) receive(rw http.ResponseWriter, r *http.Request, gz bool, wireMax int64, now time.Time, sig *signed, mac *pooledMAC) {
	deliveryID := ""
	if w.scheme == SchemeStandardWebhooks {
		if sig != nil {
			deliveryID = sig.id // the webhook-id, checked by parseSignature
		} else if id := headerValue(r.Header, canonWebhookID); len(id) <= maxDeliveryIDLen {
			deliveryID = id
		}
	}
	var one [1][]byte // most bodies are one chunk
	body := io.Reader(r.Body)
	if r.ContentLength < 0 { // a known length is at most wireMax (admit), and the server reads no further
		body = http.MaxBytesReader(rw, r.Body, wireMax)
	}
	chunks, n, held, err := w.readBody(one[:0], body, r.ContentLength, wireMax, mac)
	defer w.budget.give(held)
	if err != nil {
		w.rejectRead(rw, err)
		return
	}
	if mac != nil && !sig.matches(mac.digest()) {
		w.reject(rw, http.StatusUnauthorized, reasonBadSignature, "missing or invalid signature")
		return
	}
	if deliveryID == "" {
		w.deliver(rw, r, chunks, n, gz, now, "")
		return
	}
	id := w.seen.key(deliveryID)
	if w.reserveID(rw, id, now) {
		w.deliverOnce(rw, r, chunks, n, gz, now, deliveryID, id)
	}
}

// deliverOnce delivers under the delivery id reserved as id, which is then
// committed when the delivery was recorded and released otherwise.
func (w *Webhook) deliverOnce(rw http.ResponseWriter, r *http.Request, chunks [][]byte, n int64, gz bool, now time.Time, deliveryID string, id idKey) {
	recorded := false
	defer func() { // also when the Logger panics: the sender's retry must be recorded
		if recorded {
			// Kept from now, when the timestamp passed: a replay of this
			// delivery carries the same timestamp, stale by now+2×Tolerance.
			w.seen.commit(id, now)
		} else {
			w.seen.release(id)
		}
	}()
	recorded = w.deliver(rw, r, chunks, n, gz, now, deliveryID)
}

// admit checks the method, Content-Encoding and Content-Length of r, all
// before the body is read; when it refuses r it has answered.
func (w *Webhook) admit(rw http.ResponseWriter, r *http.Request) (gz bool, wireMax int64, ok bool) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		rw.Header().Set("Allow", allowed)
		w.reject(rw, http.StatusMethodNotAllowed, reasonMethod, "method not allowed: use POST, PUT or PATCH")
		return false, 0, false
	}
	switch enc := strings.TrimSpace(headerValue(r.Header, "Content-Encoding")); {
	case enc == "", strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip"), strings.EqualFold(enc, "x-gzip"):
		gz = true
	default:
		w.reject(rw, http.StatusUnsupportedMediaType, reasonBadEncoding, "unsupported Content-Encoding: use gzip or identity")
		return false, 0, false
	}
	wireMax = w.max
	if gz {
		wireMax = w.wireMax
	}
	if r.ContentLength > wireMax {
		w.reject(rw, http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large")
		return false, 0, false
	}
	return gz, wireMax, true
}

// authenticate parses the signature headers into sig; when they are missing,
// malformed or stale it has answered 401.
func (w *Webhook) authenticate(rw http.ResponseWriter, h http.Header, now time.Time, sig *signed) bool {
	err := w.parseSignature(sig, h, now)
	if errors.Is(err, errStale) {
		w.reject(rw, http.StatusUnauthorized, reasonStale, "webhook-timestamp outside the tolerance")
		return false
	}
	if err != nil {
		w.reject(rw, http.StatusUnauthorized, reasonBadSignature, "missing or invalid signature")
		return false
	}
	return true
}

// rejectRead answers a body that could not be read.
func (w *Webhook) rejectRead(rw http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errBudget):
		w.reject(rw, http.StatusServiceUnavailable, reasonBusy, "too many request bytes in flight, retry")
	case errors.As(err, &mbe):
		w.reject(rw, http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large")
	default:
		w.reject(rw, http.StatusBadRequest, reasonReadError, "cannot read body")
	}
}

// reserveID reserves a delivery id for this request; when it was recorded
// before (200, a replay or a retry) or cannot be reserved now (503) it has
// answered.
func (w *Webhook) reserveID(rw http.ResponseWriter, id idKey, now time.Time) bool {
	switch w.seen.reserve(id, now) {
	case idSeen:
		if w.stats != nil {
			w.stats.Incr("webhook.replayed_total")
		}
		rw.WriteHeader(http.StatusOK) // kept already; a retry needs no second copy
		return false
	case idInFlight:
		w.reject(rw, http.StatusServiceUnavailable, reasonBusy, "this delivery is being recorded, retry")
		return false
	case idFull:
		w.reject(rw, http.StatusServiceUnavailable, reasonBusy, "too many recent deliveries, retry")
		return false
	}
	return true
}

// deliver decodes the body read in chunks and hands the delivery to the
// Logger, answering 200 when it is recorded (and reporting whether it was).
func (w *Webhook) deliver(rw http.ResponseWriter, r *http.Request, chunks [][]byte, n int64, gz bool, now time.Time, deliveryID string) bool {
	var decoded string
	if gz {
		s, code, reason, msg := w.gunzip(chunks)
		if code != 0 {
			w.reject(rw, code, reason, msg)
			return false
		}
		decoded = s
	} else {
		decoded = joinChunks(chunks, n)
	}
	rawURL := r.RequestURI
	if rawURL == "" && r.URL != nil {
		rawURL = r.URL.String()
	}
	if w.logger != nil {
		req := Request{
			RemoteAddr: r.RemoteAddr, Method: r.Method, Proto: r.Proto, RawURL: rawURL,
			Header: r.Header, Body: decoded, ReceivedAt: now, DeliveryID: deliveryID,
		}
		if cl, ok := w.logger.(CheckedLogger); ok {
			if err := cl.RecordChecked(req); err != nil {
				w.reject(rw, http.StatusServiceUnavailable, reasonUnavailable, "delivery not recorded, retry: "+err.Error())
				return false
			}
		} else {
			w.logger.Record(req)
		}
	}
	rw.WriteHeader(http.StatusOK)
	return true
}

// errBudget is a read refused by the unauthenticated-bytes budget.
var errBudget = errors.New("webhook: unauthenticated-bytes budget exhausted")

// joinChunks returns the n bytes of chunks as a string. A single chunk that
// its bytes nearly fill becomes the string without a copy: readBody
// allocated it for this request alone and nothing writes to it after, and
// the memory the string keeps is then about what its length says (which is
// what the RouteLogger's bounds count).
func joinChunks(chunks [][]byte, n int64) string {
	if len(chunks) == 1 {
		if c := chunks[0]; len(c) > 0 && cap(c)-len(c) <= len(c)/8+16 {
			return unsafe.String(unsafe.SliceData(c), len(c))
		}
	}
	var b strings.Builder
	b.Grow(int(n))
	for _, c := range chunks {
		b.Write(c)
	}
	return b.String()
}

// chunkMax is the largest chunk readBody allocates.
const chunkMax = 32 << 10

// readBody reads r in chunks appended to chunks, each taken from the budget
// before it is allocated, writing every byte to mac (when set) as it
// arrives; more than limit bytes is an *http.MaxBytesError (a body longer
// than its Content-Length says, as only a handler called directly can get).
// It returns the chunks, the bytes read, and what it took from the budget
// (to give back when the request is done, also on error).
func (w *Webhook) readBody(chunks [][]byte, r io.Reader, contentLength, limit int64, mac *pooledMAC) ([][]byte, int64, int64, error) {
	var n, held int64
	size := int64(4 << 10)
	if contentLength >= 0 {
		size = min(contentLength+1, chunkMax) // +1: see EOF without a second chunk
	}
	var cur []byte
	for {
		if len(cur) == cap(cur) {
			if !w.budget.take(size) {
				return nil, n, held, errBudget
			}
			held += size
			if cur != nil {
				chunks = append(chunks, cur)
			}
			cur = make([]byte, 0, size)
			size = chunkMax
		}
		m, rerr := r.Read(cur[len(cur):cap(cur)])
		if m > 0 {
			if mac != nil {
				mac.Write(cur[len(cur) : len(cur)+m])
			}
			cur = cur[:len(cur)+m]
			n += int64(m)
			if n > limit {
				return nil, n, held, &http.MaxBytesError{Limit: limit}
			}
		}
		if rerr == io.EOF {
			if len(cur) > 0 {
				chunks = append(chunks, cur)
			}
			return chunks, n, held, nil
		}
		if rerr != nil {
			return nil, n, held, rerr
		}
	}
}

// gunzip decodes the wire chunks with the decoded-size cap. A non-zero code
// means reject.
func (w *Webhook) gunzip(chunks [][]byte) (body string, code int, reason, msg string) {
	rs := make([]io.Reader, len(chunks))
	for i, c := range chunks {
		rs[i] = bytes.NewReader(c)
	}
	zr, err := gzip.NewReader(io.MultiReader(rs...))
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
