package webhook_test

import (
	"net/http"
	"testing"

	"github.com/orbital-e2e/orbital/webhook"
)

func TestJSONField(t *testing.T) {
	tests := []struct {
		name, field, body, want string
	}{
		{"top level", "messageId", `{"messageId":"m1"}`, "m1"},
		{"spaces", "messageId", " { \"a\" : 1 ,\n \"messageId\" : \"m1\" } ", "m1"},
		{"nested field of same name is skipped", "messageId", `{"properties":{"messageId":"evil"},"messageId":"real"}`, "real"},
		{"string containing the field is skipped", "messageId", `{"text":"\"messageId\":\"evil\"","messageId":"real"}`, "real"},
		{"first occurrence wins", "messageId", `{"messageId":"a","messageId":"b"}`, "a"},
		{"escaped value", "messageId", `{"messageId":"a\"b\u00e9\/"}`, `a"bé/`},
		{"escaped key", "messageId", `{"message\u0049d":"m1"}`, "m1"},
		{"number", "messageId", `{"messageId":42}`, "42"},
		{"bool", "ok", `{"ok":true}`, "true"},
		{"null", "messageId", `{"messageId":null}`, ""},
		{"object value", "messageId", `{"messageId":{"a":1}}`, ""},
		{"missing", "messageId", `{"other":"x","arr":[1,{"messageId":"no"}]}`, ""},
		{"nested path", "properties.id", `{"id":"top","properties":{"x":[1,2],"id":"p1"}}`, "p1"},
		{"nested path missing", "properties.id", `{"properties":"id"}`, ""},
		{"not an object", "messageId", `["messageId","m1"]`, ""},
		{"empty", "messageId", ``, ""},
		{"truncated", "messageId", `{"messageId":"m1`, ""},
		{"garbage", "messageId", `{"a":}}}"messageId":"x"`, ""},
		{"surrogate pair", "k", `{"k":"\ud83d\ude00"}`, "😀"},
		{"lowest surrogate pair", "k", `{"k":"\ud800\udc00"}`, "\U00010000"},
		{"low surrogate first", "k", `{"k":"\udc00\udc00"}`, "\ufffd\ufffd"},
		{"high surrogate and a non-surrogate", "k", `{"k":"\ud800\ue000"}`, "\ufffd\ue000"},
		{"highest surrogate pair", "k", `{"k":"\udbff\udfff"}`, "\U0010ffff"},
		{"lone high surrogate at the end", "k", `{"k":"\ud83d"}`, "\ufffd"},
		{"unicode escape at the end", "k", `{"k":"\u0041"}`, "A"},
		{"short unicode escape", "k", `{"k":"\u00"}`, ""},
		// Bodies that end at every point where the scanner reads on: each
		// must give the empty key, not read past the end.
		{"only spaces", "messageId", "   ", ""},
		{"open brace", "messageId", `{`, ""},
		{"open brace and spaces", "messageId", "{  ", ""},
		{"empty object", "messageId", `{ }`, ""},
		{"key without colon", "messageId", `{"messageId"`, ""},
		{"key and colon", "messageId", `{"messageId":`, ""},
		{"unterminated key", "messageId", `{"messageId`, ""},
		{"value without close", "messageId", `{"a":1`, ""},
		{"value and comma", "messageId", `{"a":1,`, ""},
		{"value and spaces", "messageId", `{"a":1  `, ""},
		{"missing comma", "messageId", `{"a":1 "messageId":"m1"}`, ""},
		{"empty value", "messageId", `{"messageId":,"a":1}`, ""},
		{"empty value at the end", "messageId", `{"messageId":}`, ""},
		{"empty value of another key", "messageId", `{"a":,"messageId":"m1"}`, ""},
		{"other key and colon", "messageId", `{"a":`, ""},
		{"other key, colon and spaces", "messageId", `{"a":  `, ""},
		{"unterminated object value", "messageId", `{"a":{"b":1`, ""},
		{"unterminated array value", "messageId", `{"a":[1,2`, ""},
		{"nested open brace", "properties.id", `{"properties":{`, ""},
		{"nested empty object", "properties.id", `{"properties":{}}`, ""},
		{"nested not an object", "properties.id", `{"properties":1}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhook.JSONField(tt.field)(webhook.Request{Body: tt.body}); got != tt.want {
				t.Fatalf("JSONField(%q) of %s = %q, want %q", tt.field, tt.body, got, tt.want)
			}
		})
	}
}

func FuzzJSONField(f *testing.F) {
	f.Add(`{"messageId":"m1"}`, "messageId")
	f.Add(`{"a":{"b":[1,"\"",{}]},"messageId":"\u00e9"}`, "a.b")
	f.Fuzz(func(t *testing.T, body, field string) {
		webhook.JSONField(field)(webhook.Request{Body: body}) // must not panic or hang
	})
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"present", http.Header{"X-Trace-Id": {"t1", "t2"}}, "t1"},
		{"missing", http.Header{}, ""},
		{"nil", nil, ""},
	}
	key := webhook.Header("x-trace-id") // any case
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := key(webhook.Request{Header: tt.header}); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
