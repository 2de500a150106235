package orbital

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
)

// W3CTraceID returns the W3C Trace Context trace-id of a run
// (https://www.w3.org/TR/trace-context/#trace-id): 32 lowercase hex digits.
// A run's trace id is a UUID (the default, and the ids of cluster mode), so
// it is the UUID's 32 hex digits without the dashes: a tracing backend then
// shows the same id as orbital's logs and page, only without dashes. Any
// other id (WithTraceIDs may give anything) maps to the first 16 bytes of
// its SHA-256. The result is never all zeros, which the spec forbids.
func W3CTraceID(traceID string) string {
	if h, ok := uuidHex(traceID); ok {
		return h
	}
	sum := sha256.Sum256([]byte(traceID))
	h := hex.EncodeToString(sum[:16])
	if h == strings.Repeat("0", 32) {
		return "00000000000000000000000000000001"
	}
	return h
}

// uuidHex returns the 32 lowercase hex digits of a UUID in its canonical
// 8-4-4-4-12 form, and false for anything else or the nil UUID.
func uuidHex(s string) (string, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", false
	}
	b := make([]byte, 0, 32)
	nonZero := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			continue
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		if c != '0' {
			nonZero = true
		}
		b = append(b, c)
	}
	return string(b), nonZero
}

// Traceparent returns a W3C traceparent header value for a request or
// message sent by the run named traceID: version 00, the run's
// W3CTraceID, a new random span id (the sender's own span) and the sampled
// flag, e.g. "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01". A
// pipeline instrumented with OpenTelemetry continues that trace, so its
// spans and the run share one trace id.
func Traceparent(traceID string) string {
	var span [8]byte
	for {
		binary.BigEndian.PutUint64(span[:], rand.Uint64())
		if span != [8]byte{} {
			break
		}
	}
	return "00-" + W3CTraceID(traceID) + "-" + hex.EncodeToString(span[:]) + "-01"
}

// TraceLink expands a trace URL template for a run: every "{trace_id}" in
// tmpl becomes the run's W3CTraceID, e.g.
// "https://tracing.example/trace/{trace_id}". An empty template gives "".
func TraceLink(tmpl, traceID string) string {
	if tmpl == "" {
		return ""
	}
	return strings.ReplaceAll(tmpl, "{trace_id}", W3CTraceID(traceID))
}
