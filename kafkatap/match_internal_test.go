package kafkatap

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestMessageID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"messageId":"a"}`, "a", true},
		{` { "type" : "track", "messageId"  :  "a-b" , "x":1}`, "a-b", true},
		{`{"x":{"messageId":"nested"},"messageId":"top"}`, "top", true},
		{`{"x":["{",{"messageId":"n"}],"messageId":"top"}`, "top", true},
		{`{"x":"\"messageId\":\"fake\"","messageId":"real"}`, "real", true},
		{`{"messageId":"a\"b\u0041"}`, `a"bA`, true},
		{`{"messageId":""}`, "", true},
		{`{"x":{"messageId":"nested"}}`, "", false},
		{`[{"messageId":"in-array"}]`, "", false},
		{`{"messageId":7}`, "", false},
		{`{"messageId":null}`, "", false},
		{`{"messageId":"unterminated`, "", false},
		{`{"messageIdX":"a"}`, "", false},
		{`{"a":"messageId","b":"c"}`, "", false},
		{`"messageId"`, "", false},
		{`not json "messageId"`, "", false},
		{``, "", false},
	} {
		got := messageID([]byte(tc.in))
		if (got != nil) != tc.ok || string(got) != tc.want {
			t.Errorf("messageID(%s) = %q (found %v), want %q (found %v)", tc.in, got, got != nil, tc.want, tc.ok)
		}
	}
}

// On valid JSON with one "messageId" the scan agrees with encoding/json.
func FuzzMessageID(f *testing.F) {
	for _, s := range []string{`{"messageId":"a"}`, `{"x":{"messageId":"n"}}`, `{"a":[1,{"b":"}"}],"messageId":"\u00e9"}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		got := messageID(v) // never panics, on anything
		if !json.Valid(v) || bytes.Count(v, messageIDKey) > 1 {
			return
		}
		var obj map[string]json.RawMessage
		var want *string
		if json.Unmarshal(v, &obj) == nil {
			var s string
			if raw, ok := obj["messageId"]; ok && json.Unmarshal(raw, &s) == nil {
				want = &s
			}
		}
		switch {
		case want == nil && got != nil:
			t.Errorf("messageID(%s) = %q, encoding/json finds none", v, got)
		case want != nil && (got == nil || string(got) != *want):
			t.Errorf("messageID(%s) = %q, encoding/json finds %q", v, got, *want)
		}
	})
}

func TestIsDeadLetterTopic(t *testing.T) {
	for topic, want := range map[string]bool{
		"events-dead-letter": true, "events.dead-letter": true, "events_dead_letter": true,
		"orders.DLT": true, "orders-dlt": true, "events-DLQ": true, "events.dlq": true, "events_dlq": true,
		"events": false, "events-processed": false, "dlq": false, "-dlq": false, "dlq-events": false,
	} {
		if got := IsDeadLetterTopic(topic); got != want {
			t.Errorf("IsDeadLetterTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}

// The matching of one unwatched record carrying a messageId, against
// decoding its value with encoding/json (what matching by a decoded field
// would cost).
func BenchmarkMatch(b *testing.B) {
	v := []byte(`{"type":"track","event":"Load Test","userId":"user-42","properties":{"pad":"` +
		string(bytes.Repeat([]byte("x"), 300)) + `"},"messageId":"load-123"}`)
	tap, err := New(Config{Brokers: []string{"x:1"}, Topics: []string{"events"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := tap.Watch("watched"); err != nil {
		b.Fatal(err)
	}
	p := &partition{topic: "events"}
	m := kafkaMessage("load-123", v)
	b.Run("tap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tap.observe(p, &m)
		}
	})
	b.Run("baseline=json-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e struct {
				MessageID string `json:"messageId"`
			}
			if json.Unmarshal(v, &e) != nil || e.MessageID != "load-123" {
				b.Fatal("decode")
			}
		}
	})
}

func kafkaMessage(key string, value []byte) kafka.Message {
	return kafka.Message{Topic: "events", Key: []byte(key), Value: value}
}
