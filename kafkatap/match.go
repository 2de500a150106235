package kafkatap

import (
	"bytes"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/webhook"
)

var messageIDKey = []byte(`"messageId"`)

// jsonMessageID is how a RouteLogger reads a delivery's messageId: the
// tap matches a record's value exactly as the webhook matches a delivery.
var jsonMessageID = webhook.JSONField("messageId")

// messageID returns the top-level "messageId" of the JSON object v as
// webhook.JSONField reads it (a string unquoted, a number as its text), or
// "". Only a value containing `"messageId"` is scanned, once, up to the
// field; none is decoded. The result may share v's memory: use it before
// v changes, and copy it to keep it.
func messageID(v []byte) string {
	if !bytes.Contains(v, messageIDKey) {
		return ""
	}
	// No copy of the value: JSONField only reads the string, and neither it
	// nor its result outlives this record's handling, during which nothing
	// writes v (kafka-go allocates each record's value afresh).
	return jsonMessageID(webhook.Request{Body: unsafe.String(unsafe.SliceData(v), len(v))})
}

// deadLetterSuffixes mark a dead-letter topic by its name, compared in
// lower case.
var deadLetterSuffixes = []string{
	"-dead-letter", ".dead-letter", "_dead_letter", "-deadletter", ".deadletter", "_deadletter",
	"-dlq", ".dlq", "_dlq", "-dlt", ".dlt", "_dlt",
}

// IsDeadLetterTopic reports whether a topic's name marks it as a dead-letter
// topic: it ends (in any case) in -dead-letter, .dead-letter, _dead_letter,
// -deadletter, -dlq, .dlq, _dlq, -dlt, .dlt or _dlt (Spring's "orders.DLT"),
// or the same with the separators mixed as listed.
func IsDeadLetterTopic(topic string) bool {
	lower := strings.ToLower(topic)
	for _, s := range deadLetterSuffixes {
		if strings.HasSuffix(lower, s) && len(lower) > len(s) {
			return true
		}
	}
	return false
}

// errorHeaders are the header names (compared in any case) that mark a
// record as dead-lettered wherever it is: the example pipeline's, Spring
// Kafka's and Kafka Connect's.
var errorHeaders = []string{"error", "x-error", "kafka_dlt-exception-message", "__connect.errors.exception.message"}

// hasErrorHeader reports whether m carries one of errorHeaders.
func hasErrorHeader(hs []kafka.Header) bool {
	for _, h := range hs {
		for _, name := range errorHeaders {
			if strings.EqualFold(h.Key, name) {
				return true
			}
		}
	}
	return false
}

// sightingHeaders returns the headers a Sighting keeps: for a dead-letter
// record every header (a name repeated keeps its last value), otherwise
// traceparent alone; at most MaxHeaders names, each name and value cut to
// MaxHeaderBytes. cut reports whether anything was left out; size is about
// the memory the map takes.
func sightingHeaders(hs []kafka.Header, dead bool) (out map[string]string, cut bool, size int) {
	for _, h := range hs {
		if !dead && !strings.EqualFold(h.Key, "traceparent") {
			continue
		}
		name := h.Key
		if !dead {
			name = "traceparent"
		} else if len(name) > MaxHeaderBytes {
			name, cut = cutRunes(name), true
		}
		if out == nil {
			out = make(map[string]string, min(len(hs), MaxHeaders))
		}
		if _, ok := out[name]; !ok && len(out) == MaxHeaders {
			cut = true
			continue
		}
		v, short := headerValue(h.Value)
		cut = cut || short
		if old, ok := out[name]; ok {
			size -= len(name) + len(old) + headerOverhead
		}
		out[name] = v
		size += len(name) + len(v) + headerOverhead
	}
	if out != nil {
		size += mapOverhead
	}
	return out, cut, size
}

// Approximate memory of a small Go map and of each of its string entries
// beyond the strings' bytes, so that Config.MaxHeaderMemory bounds the
// memory the headers really take.
const (
	mapOverhead    = 200
	headerOverhead = 48
)

// headerValue renders a header value: as text when it is printable UTF-8,
// else as "0x" and its hex digits (Spring's binary original-offset, say);
// cut to MaxHeaderBytes (at a rune boundary). cut reports a value cut.
func headerValue(b []byte) (string, bool) {
	if !printable(b) {
		if n := (MaxHeaderBytes - 2) / 2; len(b) > n {
			return "0x" + hex.EncodeToString(b[:n]), true
		}
		return "0x" + hex.EncodeToString(b), false
	}
	if len(b) <= MaxHeaderBytes {
		return string(b), false
	}
	return cutRunes(string(b[:MaxHeaderBytes+1])), true
}

// cutRunes returns s cut to MaxHeaderBytes at a rune boundary.
func cutRunes(s string) string {
	if len(s) <= MaxHeaderBytes {
		return s
	}
	n := MaxHeaderBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
	}
	return true
}
