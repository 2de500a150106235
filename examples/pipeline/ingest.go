package pipeline

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	stats "github.com/segmentio/stats/v4"
)

// rejection reasons, the tag of rejected_total{reason}.
const (
	rejectMethod       = "method"
	rejectUnauthorized = "unauthorized"
	rejectContentType  = "content_type"
	rejectTooLarge     = "too_large"
	rejectInvalid      = "invalid"
	rejectUnavailable  = "unavailable"
	rejectDraining     = "draining"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func (p *Pipeline) reject(w http.ResponseWriter, status int, reason, msg string) {
	p.stats.Incr("rejected_total", stats.T("reason", reason))
	writeJSON(w, status, apiError{Error: msg})
}

// setCORS lets browsers call the API from any origin and read every answer,
// errors included (analytics.js reads a 429's or 503's Retry-After). Write
// keys travel in the Authorization header or the body, never in cookies, so
// no credentials are allowed. A page that adds W3C Trace Context headers
// (traceparent, tracestate) makes its browser send a preflight first; they
// are allowed.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Retry-Count, traceparent, tracestate")
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	h.Set("Access-Control-Max-Age", "600")
}

// withCORS sets the CORS headers on every answer of h and answers the
// preflight (OPTIONS) of every path but /admin/ with 204.
func withCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setCORS(w.Header())
		if r.Method == http.MethodOptions && !strings.HasPrefix(r.URL.Path, "/admin/") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// jsonBody reports whether a Content-Type is one the API reads as JSON:
// application/json, or text/plain as analytics.js sends (a "simple" request
// type, and what navigator.sendBeacon can send).
func jsonBody(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || mt == "text/plain")
}

// ingestHandler serves the endpoint of one call type (wantType "track",
// "page", ...: /v1/track and /v1/t) or /v1/batch and /v1/b (batch true).
func (p *Pipeline) ingestHandler(wantType string, batch bool) http.HandlerFunc {
	limit := int64(MaxEventBytes)
	if batch {
		limit = MaxBatchBytes
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			p.reject(w, http.StatusMethodNotAllowed, rejectMethod, "method "+r.Method+" not allowed; use POST")
			return
		}
		if !p.beginRequest() {
			w.Header().Set("Retry-After", "1")
			p.reject(w, http.StatusServiceUnavailable, rejectDraining, "not accepting events (starting up or draining); retry")
			return
		}
		defer p.ingestWG.Done()

		// A Basic user name is checked before the body is read; without one the
		// write key must be in the body.
		user, _, basic := r.BasicAuth()
		basic = basic && user != ""
		if basic && !p.accepted(user) {
			p.unauthorized(w, r)
			return
		}
		if !jsonBody(r.Header.Get("Content-Type")) {
			p.reject(w, http.StatusUnsupportedMediaType, rejectContentType, "Content-Type must be application/json or text/plain (a JSON body)")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				p.reject(w, http.StatusRequestEntityTooLarge, rejectTooLarge, fmt.Sprintf("body larger than %d bytes", limit))
				return
			}
			p.reject(w, http.StatusBadRequest, rejectInvalid, "reading body: "+err.Error())
			return
		}
		req, status, err := parseRequest(body, wantType, batch)
		if err != nil && (basic || status == http.StatusRequestEntityTooLarge) {
			reason := rejectInvalid
			if status == http.StatusRequestEntityTooLarge {
				reason = rejectTooLarge
			}
			p.reject(w, status, reason, err.Error())
			return
		}
		if !basic && (err != nil || !p.bodyAuthorized(req)) {
			// A body that cannot be read gives no write key either: 401, so
			// that an unauthenticated caller learns nothing about the body.
			p.unauthorized(w, r)
			return
		}
		p.produce(w, r, req.events)
	}
}

// produce writes a request's events to Kafka and answers 200
// {"success":true} once they are acknowledged, or 503 when Kafka is not.
func (p *Pipeline) produce(w http.ResponseWriter, r *http.Request, events []event) {
	p.stats.Add("ingested_total", len(events))
	msgs, err := p.messages(events, traceFromHTTP(r.Header))
	if err != nil { // cannot happen: every field is valid JSON
		p.reject(w, http.StatusBadRequest, rejectInvalid, "encoding event: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.ProduceTimeout)
	defer cancel()
	if err := p.writer.WriteMessages(ctx, msgs...); err != nil {
		p.log.Warn("produce failed; answering 503", "events", len(msgs), "err", err)
		w.Header().Set("Retry-After", "1")
		p.reject(w, http.StatusServiceUnavailable, rejectUnavailable, "Kafka unavailable, event not accepted; retry")
		return
	}
	p.stats.Add("produced_total", len(msgs))
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
	}{true})
}

// messages returns the Kafka messages of a request's events: keyed by
// messageId, with the request's trace context as headers (traceparent,
// tracestate). Under Faults.Lose each event is left out with that
// probability, on its own: the request is still answered 200.
func (p *Pipeline) messages(events []event, tc traceContext) ([]kafka.Message, error) {
	lose := p.Faults().Lose
	now := time.Now()
	msgs := make([]kafka.Message, 0, len(events))
	for _, e := range events {
		id := e.messageID()
		if hit(lose) {
			p.stats.Incr("faults_injected_total", stats.T("fault", faultLose))
			p.log.Debug("fault: event lost before Kafka", "message_id", id)
			continue
		}
		v, err := e.marshal()
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: v, Time: now, Headers: tc.kafkaHeaders()})
	}
	return msgs, nil
}

// unauthorized answers 401 for a missing or refused write key.
func (p *Pipeline) unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") == "" {
		// Not for browsers: with a Basic challenge they would stop and
		// prompt the user instead of letting analytics.js see the error.
		w.Header().Set("WWW-Authenticate", `Basic realm="pipeline"`)
	}
	p.reject(w, http.StatusUnauthorized, rejectUnauthorized,
		`missing or invalid write key (HTTP Basic auth with the write key as user name, or "writeKey" in the body)`)
}

// request is a parsed ingest request: its events, ready to produce (batch
// context, integrations and sentAt merged in, write keys removed), and the
// write keys the body carried.
type request struct {
	events []event
	// writeKey is the body's write key: the event's (single calls) or the
	// batch object's; eventKeys are those of a batch's events, "" where an
	// event has none.
	writeKey  string
	eventKeys []string
}

// parseRequest parses and validates a request body into events. On error it
// returns the HTTP status to answer (400 or 413).
func parseRequest(body []byte, wantType string, batch bool) (request, int, error) {
	if !batch {
		e, err := parseEvent(body, wantType)
		if err != nil {
			return request{}, http.StatusBadRequest, err
		}
		key := e.takeWriteKey()
		return request{events: []event{e}, writeKey: key}, 0, nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return request{}, http.StatusBadRequest, invalidf(`batch body must be a JSON object {"batch":[...]}`)
	}
	var top event
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return request{}, http.StatusBadRequest, invalidf(`malformed batch, want {"batch":[...]}: %v`, err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(top["batch"], &items); err != nil || len(items) == 0 {
		return request{}, http.StatusBadRequest, invalidf(`"batch" must be a non-empty array of events`)
	}
	shared, err := top.batchFields()
	if err != nil {
		return request{}, http.StatusBadRequest, err
	}
	req := request{events: make([]event, len(items)), eventKeys: make([]string, len(items))}
	req.writeKey, _ = top.str("writeKey")
	for i, raw := range items {
		if len(raw) > MaxEventBytes {
			return request{}, http.StatusRequestEntityTooLarge, fmt.Errorf("batch[%d]: event larger than %d bytes", i, MaxEventBytes)
		}
		e, err := parseEvent(raw, "")
		if err != nil {
			return request{}, http.StatusBadRequest, fmt.Errorf("batch[%d]: %w", i, err)
		}
		req.eventKeys[i] = e.takeWriteKey()
		if err := e.merge(shared); err != nil { // cannot happen: both sides are validated objects
			return request{}, http.StatusBadRequest, fmt.Errorf("batch[%d]: %w", i, err)
		}
		req.events[i] = e
	}
	return req, 0, nil
}

// bodyAuthorized reports whether the body's write keys are accepted: the
// batch's (or single event's) when it has one, else every event's own.
func (p *Pipeline) bodyAuthorized(req request) bool {
	if req.writeKey != "" {
		return p.accepted(req.writeKey)
	}
	if len(req.eventKeys) == 0 {
		return false
	}
	ok := true
	for _, k := range req.eventKeys {
		ok = p.accepted(k) && ok // check every key, in constant time each
	}
	return ok
}

// accepted reports whether key is one of the accepted write keys. Every key
// is compared in constant time.
func (p *Pipeline) accepted(key string) bool {
	if key == "" {
		return false
	}
	found := 0
	for _, k := range p.cfg.WriteKeys {
		found |= subtle.ConstantTimeCompare([]byte(key), []byte(k))
	}
	return found == 1
}

// beginRequest registers an ingest request, or reports false when the
// pipeline is draining. A true result must be paired with ingestWG.Done.
func (p *Pipeline) beginRequest() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closing || !p.started {
		return false
	}
	p.ingestWG.Add(1)
	return true
}
