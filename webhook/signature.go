package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Scheme is how deliveries are signed.
type Scheme int

const (
	// SchemeStandardWebhooks is Standard Webhooks
	// (https://www.standardwebhooks.com), the default: headers webhook-id
	// (the delivery's id, the same on every retry), webhook-timestamp (Unix
	// seconds of the attempt) and webhook-signature, a space-separated list
	// of "v1,<base64 HMAC-SHA256 of id.timestamp.body>" (several during a
	// secret rotation; one matching is enough). A secret "whsec_<base64>"
	// is decoded to its key first, as the specification serialises secrets.
	// Timestamps outside Config.Tolerance are refused and a delivery id
	// seen before is answered 200 without recording it again (replays and
	// transport retries).
	SchemeStandardWebhooks Scheme = iota
	// SchemeXSignature is a single header (Config.SignatureHeader, default
	// X-Signature) holding the lowercase hex HMAC-SHA256 of the body,
	// optionally prefixed with "sha256=". It signs neither an id nor a
	// time, so it cannot refuse replays; use it for pipelines that sign
	// that way.
	SchemeXSignature
)

// Scheme names, as ParseScheme and String spell them.
const (
	SchemeNameStandardWebhooks = "standard-webhooks"
	SchemeNameXSignature       = "x-signature"
)

// String returns "standard-webhooks" or "x-signature".
func (s Scheme) String() string {
	switch s {
	case SchemeStandardWebhooks:
		return SchemeNameStandardWebhooks
	case SchemeXSignature:
		return SchemeNameXSignature
	}
	return "Scheme(" + strconv.Itoa(int(s)) + ")"
}

// bodyOnly reports whether s signs the body alone (SchemeXSignature). (A
// switch, not ==: scheme names are not secrets, but they name signatures.)
func (s Scheme) bodyOnly() bool {
	switch s {
	case SchemeXSignature:
		return true
	}
	return false
}

// ParseScheme parses "standard-webhooks" or "x-signature" (for flags).
func ParseScheme(s string) (Scheme, error) {
	switch s {
	case SchemeNameStandardWebhooks:
		return SchemeStandardWebhooks, nil
	case SchemeNameXSignature:
		return SchemeXSignature, nil
	}
	return 0, fmt.Errorf("webhook: unknown signature scheme %q: want %q or %q", s, SchemeNameStandardWebhooks, SchemeNameXSignature)
}

// Standard Webhooks header names.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// maxDeliveryIDLen bounds a webhook-id (the ids kept for replays are
// bounded in number and size).
const maxDeliveryIDLen = 256

// Sign returns the signature a sender puts in the signature header for body
// (the bytes as sent) and secret under SchemeXSignature: the lowercase hex
// HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignStandard returns the webhook-signature value of a Standard Webhooks
// delivery with id and timestamp: "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" (timestamp in Unix seconds) under the key of secret.
func SignStandard(secret []byte, id string, timestamp time.Time, body []byte) string {
	m := standardMAC(StandardKey(secret), id, timestamp.Unix())
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// StandardKey returns the HMAC key of a Standard Webhooks secret: the
// decoded bytes of "whsec_<base64>"; any other secret (or one whose
// remainder is not base64) is the key as it is.
func StandardKey(secret []byte) []byte {
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

func standardMAC(key []byte, id string, ts int64) hash.Hash {
	m := hmac.New(sha256.New, key)
	writeStandardPrefix(m, make([]byte, 0, len(id)+22), id, ts)
	return m
}

// writeStandardPrefix writes "id.timestamp." to m through buf (scratch
// space, reused by pooled MACs).
func writeStandardPrefix(m hash.Hash, buf []byte, id string, ts int64) []byte {
	buf = append(buf[:0], id...)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, ts, 10)
	buf = append(buf, '.')
	m.Write(buf)
	return buf
}

// Canonical forms of the Standard Webhooks header names, so that a request's
// headers are looked up without canonicalising (and allocating) each time.
var (
	canonWebhookID        = textproto.CanonicalMIMEHeaderKey(HeaderWebhookID)
	canonWebhookTimestamp = textproto.CanonicalMIMEHeaderKey(HeaderWebhookTimestamp)
	canonWebhookSignature = textproto.CanonicalMIMEHeaderKey(HeaderWebhookSignature)
)

// headerValue is h.Get(canon) for a canonical key.
func headerValue(h http.Header, canon string) string {
	if v := h[canon]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// maxCandidates is how many space-separated webhook-signature entries are
// looked at (a rotation needs two or three).
const maxCandidates = 16

// signed is what a request's signature headers claim, parsed before the
// body is read so that a request without a usable signature is refused
// without reading its body.
type signed struct {
	id   string // webhook-id (Standard Webhooks)
	ts   int64  // webhook-timestamp
	n    int    // candidate MACs in macs
	macs [maxCandidates][sha256.Size]byte
}

// errStale is a Standard Webhooks timestamp outside the tolerance.
var errStale = fmt.Errorf("timestamp outside the tolerance")

// parseSignature parses the signature headers of r for w's scheme into s. It
// does not check the MAC (that needs the body).
func (w *Webhook) parseSignature(s *signed, h http.Header, now time.Time) error {
	if w.scheme.bodyOnly() {
		v := strings.TrimPrefix(h.Get(w.sigHeader), "sha256=")
		if len(v) != 2*sha256.Size {
			return fmt.Errorf("missing or malformed %s", w.sigHeader)
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return fmt.Errorf("malformed %s", w.sigHeader) // lowercase hex only
			}
		}
		if _, err := hex.Decode(s.macs[0][:], []byte(v)); err != nil {
			return fmt.Errorf("malformed %s", w.sigHeader)
		}
		s.n = 1
		return nil
	}
	id, tsStr := headerValue(h, canonWebhookID), headerValue(h, canonWebhookTimestamp)
	sig := headerValue(h, canonWebhookSignature)
	if id == "" || tsStr == "" || sig == "" {
		return fmt.Errorf("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	if len(id) > maxDeliveryIDLen {
		return fmt.Errorf("webhook-id longer than %d bytes", maxDeliveryIDLen)
	}
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return fmt.Errorf("malformed webhook-timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > w.tolerance || d < -w.tolerance {
		return errStale
	}
	s.id, s.ts = id, ts
	s.parseCandidates(sig)
	if s.n == 0 {
		return fmt.Errorf("no v1 signature in webhook-signature")
	}
	return nil
}

// parseCandidates keeps the well-formed "v1,<base64 of 32 bytes>" entries
// among the first maxCandidates of the webhook-signature header value v
// (split as strings.Fields does), decoded without allocating.
func (s *signed) parseCandidates(v string) {
	i := 0
	for start := 0; i < maxCandidates; i++ {
		for start < len(v) && sigBytes[v[start]] == sigSpace {
			start++
		}
		if start == len(v) {
			return
		}
		end := start
		for end < len(v) && sigBytes[v[end]] == sigOther {
			end++
		}
		if end < len(v) && sigBytes[v[end]] == sigNonASCII {
			// A space may be a Unicode one: split as strings.Fields does.
			s.n = 0
			s.parseFields(v)
			return
		}
		s.addCandidate(v[start:end])
		start = end
	}
}

// Classes of the bytes of a webhook-signature header (sigBytes).
const (
	sigOther    = iota // part of an entry
	sigSpace           // an ASCII space (unicode.IsSpace), between entries
	sigNonASCII        // the start of a multi-byte character, maybe a Unicode space
)

// sigBytes classifies each byte for parseCandidates: one load per byte of
// the header instead of six comparisons and a seventh for non-ASCII.
var sigBytes = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case asciiSpace(byte(c)):
			t[c] = sigSpace
		case c >= 0x80:
			t[c] = sigNonASCII
		}
	}
	return t
}()

// parseFields is parseCandidates for any sig.
func (s *signed) parseFields(sig string) {
	i := 0
	for part := range strings.FieldsSeq(sig) {
		if i >= maxCandidates {
			break
		}
		i++
		s.addCandidate(part)
	}
}

// addCandidate keeps part when it is a well-formed "v1,<base64 of 32 bytes>".
func (s *signed) addCandidate(part string) {
	var dst [48]byte
	b64, ok := strings.CutPrefix(part, "v1,")
	if !ok || len(b64) > 64 {
		return // another version (v1a, ...): not ours to check; or too long for 32 bytes
	}
	// Decode only reads its source: the string's bytes, not a copy.
	n, err := base64.StdEncoding.Decode(dst[:], unsafe.Slice(unsafe.StringData(b64), len(b64)))
	if err != nil || n != sha256.Size {
		return
	}
	copy(s.macs[s.n][:], dst[:n])
	s.n++
}

// asciiSpace is unicode.IsSpace for an ASCII byte.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// pooledMAC is a MAC under a Webhook's key with scratch space for the
// Standard Webhooks prefix; Webhook.macs keeps them between requests.
type pooledMAC struct {
	hash.Hash
	buf, sum []byte
}

// digest returns the MAC of what was written, in m's own scratch space.
func (m *pooledMAC) digest() []byte {
	m.sum = m.Sum(m.sum[:0])
	return m.sum
}

// newMAC returns the MAC to stream the body into for s, reset, from w's
// pool when it has one. Give it back with putMAC.
func (w *Webhook) newMAC(s *signed) *pooledMAC {
	m, _ := w.macs.Get().(*pooledMAC)
	if m == nil {
		key := w.stdKey
		if w.scheme.bodyOnly() {
			key = w.secret
		}
		m = &pooledMAC{Hash: hmac.New(sha256.New, key)}
	}
	m.Reset()
	if !w.scheme.bodyOnly() {
		m.buf = writeStandardPrefix(m.Hash, m.buf, s.id, s.ts)
	}
	return m
}

// putMAC returns m to w's pool.
func (w *Webhook) putMAC(m *pooledMAC) { w.macs.Put(m) }

// matches reports in constant time per candidate whether sum is one of s's
// MACs.
func (s *signed) matches(sum []byte) bool {
	ok := false
	for i := range s.n {
		if hmac.Equal(s.macs[i][:], sum) {
			ok = true
		}
	}
	return ok
}

// Errors of VerifySignature.
var (
	ErrNoSignature  = errors.New("webhook: no signature header")
	ErrBadSignature = errors.New("webhook: not a valid signature of the body")
)

// VerifySignature checks the signature of a delivery already received (for
// example a test re-verifying what a Webhook recorded): under Standard
// Webhooks when h has a webhook-signature header, otherwise the
// X-Signature header. The timestamp is not checked against a tolerance and
// no replay memory is involved; a Webhook does both on receipt. It returns
// nil, ErrNoSignature or an error wrapping ErrBadSignature that names the
// header.
func VerifySignature(secret []byte, h http.Header, body []byte) error {
	w := &Webhook{scheme: SchemeStandardWebhooks, secret: secret, stdKey: StandardKey(secret),
		sigHeader: DefaultSignatureHeader, tolerance: time.Duration(math.MaxInt64)}
	header := HeaderWebhookSignature
	if h.Get(HeaderWebhookSignature) == "" {
		w.scheme, header = SchemeXSignature, DefaultSignatureHeader
		if h.Get(DefaultSignatureHeader) == "" {
			return ErrNoSignature
		}
	}
	var s signed
	if err := w.parseSignature(&s, h, time.Unix(0, 0)); err != nil {
		return fmt.Errorf("%s: %w", header, ErrBadSignature)
	}
	m := w.newMAC(&s)
	m.Write(body)
	if !s.matches(m.digest()) {
		return fmt.Errorf("%s: %w", header, ErrBadSignature)
	}
	return nil
}
