package webhook_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orbital-e2e/orbital/webhook"
)

// plainName matches field names written the same way in any JSON text.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// FuzzJSONFieldAgreesWithEncodingJSON: for a valid JSON object in which the
// field occurs once, JSONField returns what encoding/json decodes for a
// string value, and the empty key for null, objects and arrays. It never
// panics or hangs on anything else.
func FuzzJSONFieldAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []struct{ body, field string }{
		{`{"messageId":"m1"}`, "messageId"},
		{`{"a":1,"messageId":"x\"y\\z\u00e9\ud83d\ude00"}`, "messageId"},
		{`{"messageId":null}`, "messageId"},
		{`{"messageId":{"messageId":"inner"}}`, "messageId"},
		{`{"x":[{"messageId":"no"}],"messageId":"yes"}`, "messageId"},
		{`{"messageId":"\/slash\b\f\n\r\t"}`, "messageId"},
		{`{"properties":{"id":"p"}}`, "properties.id"},
		{`{"messageId":12.5e3}`, "messageId"},
		{`{"messageId":"unterminated`, "messageId"},
		{` {"messageId" : "spaces" } `, "messageId"},
	} {
		f.Add(s.body, s.field)
	}
	f.Fuzz(func(t *testing.T, body, field string) {
		got := webhook.JSONField(field)(webhook.Request{Body: body})
		if !plainName.MatchString(field) || !utf8.ValidString(body) || strings.Count(body, `"`+field+`"`) != 1 {
			return // no oracle; reaching here without a panic is the test
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			return
		}
		v, ok := m[field]
		switch v := v.(type) {
		case string:
			if got != v {
				t.Fatalf("JSONField(%q) of %s = %q, encoding/json says %q", field, body, got, v)
			}
		case nil, map[string]any, []any:
			if ok && got != "" {
				t.Fatalf("JSONField(%q) of %s = %q, want the empty key for %T", field, body, got, v)
			}
		}
	})
}

// FuzzHeaderKey: Header returns the first value of the header, whatever the
// case of its name, and never panics.
func FuzzHeaderKey(f *testing.F) {
	f.Add("X-Trace-Id", "x-trace-id", "t1")
	f.Add("x-trace-id", "X-TRACE-ID", "")
	f.Add("", "", "v")
	f.Fuzz(func(t *testing.T, set, get, value string) {
		h := http.Header{}
		h.Add(set, value)
		h.Add(set, "second")
		got := webhook.Header(get)(webhook.Request{Header: h})
		if http.CanonicalHeaderKey(set) == http.CanonicalHeaderKey(get) && got != value {
			t.Fatalf("Header(%q) with %q: %q = %q", get, set, got, value)
		}
		_ = webhook.Header(get)(webhook.Request{}) // nil header: the empty key
	})
}
