package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Size limits of the tracking API, as in Segment's.
const (
	// MaxEventBytes is the largest event accepted, alone or inside a batch.
	MaxEventBytes = 32 << 10
	// MaxBatchBytes is the largest /v1/batch request body accepted.
	MaxBatchBytes = 500 << 10
	// maxMessageIDLen bounds a client-supplied messageId.
	maxMessageIDLen = 256
)

// eventTypes are the Segment spec call types the API accepts in a batch.
var eventTypes = map[string]bool{
	"track": true, "page": true, "screen": true, "identify": true, "group": true, "alias": true,
}

// event is one Segment-spec event, kept as raw JSON fields so that fields the
// pipeline does not know pass through unchanged.
type event map[string]json.RawMessage

// errInvalid marks validation failures (a 400).
var errInvalid = errors.New("invalid event")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errInvalid}, args...)...)
}

// parseEvent decodes one JSON object. wantType, if not empty, is the call type
// implied by the endpoint; it is set when the event has none and must match
// when it has one.
func parseEvent(b []byte, wantType string) (event, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, invalidf("body is not a JSON object")
	}
	var e event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, invalidf("malformed JSON: %v", err)
	}
	if err := e.validate(wantType); err != nil {
		return nil, err
	}
	return e, nil
}

// str returns the string value of field k and whether it is a JSON string.
func (e event) str(k string) (string, bool) {
	raw, ok := e[k]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func (e event) setStr(k, v string) {
	b, _ := json.Marshal(v) // a string always marshals
	e[k] = b
}

func (e event) setJSON(k string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e[k] = b
	return nil
}

// isNull reports whether field k is absent or JSON null.
func (e event) isNull(k string) bool {
	raw, ok := e[k]
	return !ok || string(bytes.TrimSpace(raw)) == "null"
}

// validate checks the Segment spec shape: a known type, userId or
// anonymousId, an event name for track calls, object-valued properties,
// context and traits, an RFC 3339 timestamp, and a string messageId.
func (e event) validate(wantType string) error {
	typ, ok := e.str("type")
	switch {
	case e.isNull("type") && wantType != "":
		e.setStr("type", wantType)
		typ = wantType
	case !ok:
		return invalidf(`"type" must be one of track, page, screen, identify, group, alias`)
	case wantType != "" && typ != wantType:
		return invalidf(`"type" is %q but this endpoint takes %q`, typ, wantType)
	case !eventTypes[typ]:
		return invalidf(`"type" %q is not one of track, page, screen, identify, group, alias`, typ)
	}
	if !e.hasID("userId") && !e.hasID("anonymousId") {
		return invalidf(`"userId" or "anonymousId" is required`)
	}
	if typ == "track" {
		if name, ok := e.str("event"); !ok || name == "" {
			return invalidf(`track calls need a non-empty string "event"`)
		}
	}
	for _, k := range []string{"properties", "context", "traits", "integrations"} {
		if raw, ok := e[k]; ok && !e.isNull(k) {
			if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
				return invalidf("%q must be an object", k)
			}
		}
	}
	if !e.isNull("timestamp") {
		ts, ok := e.str("timestamp")
		if !ok {
			return invalidf(`"timestamp" must be an ISO 8601 / RFC 3339 string`)
		}
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			return invalidf(`"timestamp" %q is not an ISO 8601 / RFC 3339 time`, ts)
		}
	}
	if !e.isNull("messageId") {
		id, ok := e.str("messageId")
		if !ok || id == "" {
			return invalidf(`"messageId" must be a non-empty string`)
		}
		if len(id) > maxMessageIDLen {
			return invalidf(`"messageId" is longer than %d bytes`, maxMessageIDLen)
		}
	}
	return nil
}

// hasID reports whether field k is a non-empty string or a number.
func (e event) hasID(k string) bool {
	raw, ok := e[k]
	if !ok {
		return false
	}
	if s, ok := e.str(k); ok {
		return s != ""
	}
	var n json.Number
	return json.Unmarshal(raw, &n) == nil
}

// messageID returns the event's messageId, assigning a random UUID when it
// has none.
func (e event) messageID() string {
	if id, ok := e.str("messageId"); ok && id != "" {
		return id
	}
	id := uuid.NewString()
	e.setStr("messageId", id)
	return id
}

// marshal encodes the event (keys in sorted order).
func (e event) marshal() ([]byte, error) {
	return json.Marshal(map[string]json.RawMessage(e))
}

// corrupt alters the event as Faults.Corrupt documents.
func (e event) corrupt() {
	for _, k := range []string{"event", "name"} {
		if s, ok := e.str(k); ok && s != "" {
			e.setStr(k, s+" (corrupted)")
			break
		}
	}
	props := map[string]json.RawMessage{}
	if raw, ok := e["properties"]; ok {
		_ = json.Unmarshal(raw, &props) // validated as an object; null leaves it empty
		if props == nil {
			props = map[string]json.RawMessage{}
		}
	}
	props["corrupted"] = json.RawMessage("true")
	_ = e.setJSON("properties", props) // raw messages always marshal
}

// takeWriteKey removes the event's "writeKey" (analytics.js puts the write
// key in every event) and returns it, "" when it has none or it is not a
// string. The key is a secret: it never reaches Kafka or a destination.
func (e event) takeWriteKey() string {
	k, _ := e.str("writeKey")
	delete(e, "writeKey")
	return k
}

// batchShared are the fields a batch object may carry for all its events,
// as in Segment's HTTP API: context and integrations (objects) and sentAt.
var batchShared = []string{"context", "integrations", "sentAt"}

// batchFields returns the batch-level fields of the batch object e that
// apply to each of its events, validated: context and integrations must be
// objects, sentAt an RFC 3339 string; null counts as absent.
func (e event) batchFields() (event, error) {
	shared := event{}
	for _, k := range batchShared {
		if e.isNull(k) {
			continue
		}
		raw := bytes.TrimSpace(e[k])
		if k == "sentAt" {
			ts, ok := e.str(k)
			if !ok {
				return nil, invalidf(`batch "sentAt" must be an ISO 8601 / RFC 3339 string`)
			}
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				return nil, invalidf(`batch "sentAt" %q is not an ISO 8601 / RFC 3339 time`, ts)
			}
		} else if len(raw) == 0 || raw[0] != '{' {
			return nil, invalidf("batch %q must be an object", k)
		}
		shared[k] = raw
	}
	return shared, nil
}

// merge applies a batch's shared fields to the event as Segment's API does:
// the keys of the batch's context and integrations are added to the event's
// own (the event's value wins where both have a key), and the batch's
// sentAt is the event's unless it has its own.
func (e event) merge(shared event) error {
	for k, raw := range shared {
		if e.isNull(k) {
			e[k] = raw
			continue
		}
		if k == "sentAt" {
			continue
		}
		var base, own map[string]json.RawMessage
		if err := json.Unmarshal(raw, &base); err != nil {
			return err
		}
		if err := json.Unmarshal(e[k], &own); err != nil {
			return err
		}
		if base == nil {
			base = map[string]json.RawMessage{}
		}
		for ok, ov := range own {
			base[ok] = ov
		}
		if err := e.setJSON(k, base); err != nil {
			return err
		}
	}
	return nil
}
