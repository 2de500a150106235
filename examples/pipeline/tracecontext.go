package pipeline

import (
	crand "crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/segmentio/kafka-go"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/) header names, the
// same in HTTP and as Kafka message headers.
const (
	headerTraceparent = "traceparent"
	headerTracestate  = "tracestate"
)

// Bounds of a propagated tracestate: the spec lets a vendor drop list members
// beyond 512 bytes (and allows at most 32 members).
const (
	maxTracestateBytes   = 512
	maxTracestateMembers = 32
	bigTracestateMember  = 128 // dropped first when truncating, as the spec advises
)

// traceContext is the trace context an event carries: a valid traceparent's
// fields and its tracestate. The zero value is "no trace context".
type traceContext struct {
	traceID  string // 32 lowercase hex digits, not all zero
	parentID string // 16 lowercase hex digits, not all zero
	flags    string // 2 lowercase hex digits
	state    string // tracestate, "" if none
}

func (tc traceContext) valid() bool { return tc.traceID != "" }

// traceparent formats tc as a version-00 traceparent.
func (tc traceContext) traceparent() string {
	return "00-" + tc.traceID + "-" + tc.parentID + "-" + tc.flags
}

// child returns tc with a new random parent id: the context of a span of
// this service inside tc's trace, as an OpenTelemetry-instrumented client
// sends on an outgoing request.
func (tc traceContext) child() traceContext {
	var b [8]byte
	for {
		_, _ = crand.Read(b[:])
		if b != [8]byte{} {
			break
		}
	}
	tc.parentID = hex.EncodeToString(b[:])
	return tc
}

// parseTraceparent parses a traceparent value. Version 00 must be exactly
// "00-<trace-id>-<parent-id>-<flags>"; a higher version (but ff) is parsed
// by its first four fields, which must be followed by the end or "-", as the
// spec requires for forward compatibility. Hex digits must be lowercase, and
// neither id may be all zeros.
func parseTraceparent(v string) (traceContext, bool) {
	const n = 55 // len("00-") + 32 + 1 + 16 + 1 + 2
	if len(v) < n || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return traceContext{}, false
	}
	version := v[:2]
	if !lowerHex(version) || version == "ff" || (version == "00" && len(v) != n) || (len(v) > n && v[n] != '-') {
		return traceContext{}, false
	}
	tc := traceContext{traceID: v[3:35], parentID: v[36:52], flags: v[53:55]}
	if !lowerHex(tc.traceID) || !lowerHex(tc.parentID) || !lowerHex(tc.flags) ||
		allZero(tc.traceID) || allZero(tc.parentID) {
		return traceContext{}, false
	}
	return tc, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// traceFromValues builds the trace context of one traceparent value and the
// tracestate values. There must be exactly one traceparent, and it must be
// valid; otherwise there is no trace context (and no tracestate either).
func traceFromValues(parents, states []string) traceContext {
	if len(parents) != 1 {
		return traceContext{}
	}
	tc, ok := parseTraceparent(strings.TrimSpace(parents[0]))
	if !ok {
		return traceContext{}
	}
	tc.state = cleanTracestate(states)
	return tc
}

// traceFromHTTP reads the trace context of an HTTP request's headers.
func traceFromHTTP(h http.Header) traceContext {
	return traceFromValues(h.Values(headerTraceparent), h.Values(headerTracestate))
}

// traceFromKafka reads the trace context of a Kafka message's headers.
func traceFromKafka(hs []kafka.Header) traceContext {
	var parents, states []string
	for _, h := range hs {
		switch h.Key {
		case headerTraceparent:
			parents = append(parents, string(h.Value))
		case headerTracestate:
			states = append(states, string(h.Value))
		}
	}
	return traceFromValues(parents, states)
}

// kafkaHeaders returns tc as Kafka message headers: traceparent and, when
// there is one, tracestate. No trace context gives none.
func (tc traceContext) kafkaHeaders() []kafka.Header {
	if !tc.valid() {
		return nil
	}
	hs := []kafka.Header{{Key: headerTraceparent, Value: []byte(tc.traceparent())}}
	if tc.state != "" {
		hs = append(hs, kafka.Header{Key: headerTracestate, Value: []byte(tc.state)})
	}
	return hs
}

// setHTTP sets tc's traceparent and tracestate on h, if tc is valid.
func (tc traceContext) setHTTP(h http.Header) {
	if !tc.valid() {
		return
	}
	h.Set(headerTraceparent, tc.traceparent())
	if tc.state != "" {
		h.Set(headerTracestate, tc.state)
	}
}

// cleanTracestate joins tracestate header values into one list, without
// empty members. A list with a malformed member (see validMember) or more
// than 32 members is dropped whole, as OpenTelemetry does.
// Above 512 bytes, members longer than 128 bytes are dropped first, then
// members from the end, until it fits.
func cleanTracestate(values []string) string {
	var members []string
	for _, v := range values {
		for m := range strings.SplitSeq(v, ",") {
			m = strings.Trim(m, " \t")
			if m == "" {
				continue
			}
			if !validMember(m) {
				return ""
			}
			members = append(members, m)
		}
	}
	if len(members) > maxTracestateMembers {
		return ""
	}
	s := strings.Join(members, ",")
	if len(s) <= maxTracestateBytes {
		return s
	}
	kept := members[:0]
	for _, m := range members {
		if len(m) <= bigTracestateMember {
			kept = append(kept, m)
		}
	}
	for s = strings.Join(kept, ","); len(s) > maxTracestateBytes; s = strings.Join(kept, ",") {
		kept = kept[:len(kept)-1]
	}
	return s
}

// validMember reports whether m is a tracestate list member: key=value, the
// key of lowercase letters, digits and _-*/ with at most one @ (a
// multi-tenant key), at most 256 bytes; the value at most 256 printable
// ASCII bytes but "," and "=", not ending in a space.
func validMember(m string) bool {
	key, val, ok := strings.Cut(m, "=")
	if !ok || key == "" || len(key) > 256 || val == "" || len(val) > 256 ||
		strings.Count(key, "@") > 1 || strings.HasSuffix(val, " ") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("_-*/@", c) >= 0) {
			return false
		}
	}
	for i := 0; i < len(val); i++ {
		if c := val[i]; c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
