package kafkatap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

var messageIDKey = []byte(`"messageId"`)

// messageID returns the raw bytes of the string value of the top-level
// "messageId" field of the JSON object v (unescaped only when it holds an
// escape), or nil. It looks only at values that contain `"messageId"`, and
// then scans bytes without decoding: a record that is not an object, or
// whose "messageId" is nested or not a string, gives nil.
func messageID(v []byte) []byte {
	if !bytes.Contains(v, messageIDKey) {
		return nil
	}
	depth, expectKey := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '{':
			depth++
			expectKey = depth == 1
		case '[':
			depth++
			expectKey = false
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			end := stringEnd(v, i)
			if end < 0 {
				return nil
			}
			if expectKey && depth == 1 && bytes.Equal(v[i:end+1], messageIDKey) {
				return stringValue(v, end+1)
			}
			expectKey = false
			i = end
		}
	}
	return nil
}

// stringEnd returns the index of the quote closing the JSON string that
// starts at v[start], or -1.
func stringEnd(v []byte, start int) int {
	for i := start + 1; ; {
		j := bytes.IndexByte(v[i:], '"')
		if j < 0 {
			return -1
		}
		q := i + j
		escapes := 0
		for k := q - 1; k > start && v[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q
		}
		i = q + 1
	}
}

// stringValue returns the string after the colon that follows a key ending
// before v[i], or nil when the value is not a string.
func stringValue(v []byte, i int) []byte {
	i = skipSpace(v, i)
	if i >= len(v) || v[i] != ':' {
		return nil
	}
	i = skipSpace(v, i+1)
	if i >= len(v) || v[i] != '"' {
		return nil
	}
	end := stringEnd(v, i)
	if end < 0 {
		return nil
	}
	raw := v[i : end+1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return []byte(s)
}

func skipSpace(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
		i++
	}
	return i
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
// traceparent alone; at most MaxHeaders names, each value cut to
// MaxHeaderBytes. cut reports whether anything was left out.
func sightingHeaders(hs []kafka.Header, dead bool) (out map[string]string, cut bool) {
	for _, h := range hs {
		if !dead && !strings.EqualFold(h.Key, "traceparent") {
			continue
		}
		name := h.Key
		if !dead {
			name = "traceparent"
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
		out[name] = v
	}
	return out, cut
}

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
	s := string(b)
	if len(s) <= MaxHeaderBytes {
		return s, false
	}
	n := MaxHeaderBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
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
