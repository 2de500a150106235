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

// setCORS lets the browser snippet call the API from any origin.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
}

// ingestHandler serves /v1/track, /v1/page (wantType "track", "page") and
// /v1/batch (batch true).
func (p *Pipeline) ingestHandler(wantType string, batch bool) http.HandlerFunc {
	limit := int64(MaxEventBytes)
	if batch {
		limit = MaxBatchBytes
	}
	return func(w http.ResponseWriter, r *http.Request) {
		setCORS(w.Header())
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
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

		if !p.authorized(r) {
			if r.Header.Get("Origin") == "" {
				// Not for browsers: with a Basic challenge they would stop
				// and prompt the user instead of letting the snippet fail.
				w.Header().Set("WWW-Authenticate", `Basic realm="pipeline"`)
			}
			p.reject(w, http.StatusUnauthorized, rejectUnauthorized, "missing or invalid write key (HTTP Basic auth, write key as user name)")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			p.reject(w, http.StatusUnsupportedMediaType, rejectContentType, "Content-Type must be application/json")
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
		events, status, err := parseRequest(body, wantType, batch)
		if err != nil {
			reason := rejectInvalid
			if status == http.StatusRequestEntityTooLarge {
				reason = rejectTooLarge
			}
			p.reject(w, status, reason, err.Error())
			return
		}
		p.stats.Add("ingested_total", len(events))

		now := time.Now()
		msgs := make([]kafka.Message, len(events))
		for i, e := range events {
			id := e.messageID()
			v, err := e.marshal()
			if err != nil { // cannot happen: every field is valid JSON
				p.reject(w, http.StatusBadRequest, rejectInvalid, "encoding event: "+err.Error())
				return
			}
			msgs[i] = kafka.Message{Key: []byte(id), Value: v, Time: now}
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
}

// parseRequest parses and validates a request body into events. On error it
// returns the HTTP status to answer (400 or 413).
func parseRequest(body []byte, wantType string, batch bool) ([]event, int, error) {
	if !batch {
		e, err := parseEvent(body, wantType)
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		return []event{e}, 0, nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, http.StatusBadRequest, invalidf(`batch body must be a JSON object {"batch":[...]}`)
	}
	var req struct {
		Batch []json.RawMessage `json:"batch"`
	}
	if err := json.Unmarshal(trimmed, &req); err != nil {
		return nil, http.StatusBadRequest, invalidf(`malformed batch, want {"batch":[...]}: %v`, err)
	}
	if len(req.Batch) == 0 {
		return nil, http.StatusBadRequest, invalidf(`"batch" must be a non-empty array of events`)
	}
	events := make([]event, len(req.Batch))
	for i, raw := range req.Batch {
		if len(raw) > MaxEventBytes {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("batch[%d]: event larger than %d bytes", i, MaxEventBytes)
		}
		e, err := parseEvent(raw, "")
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("batch[%d]: %w", i, err)
		}
		events[i] = e
	}
	return events, 0, nil
}

// authorized reports whether r carries an accepted write key as the Basic
// auth user name. Every key is compared in constant time.
func (p *Pipeline) authorized(r *http.Request) bool {
	user, _, ok := r.BasicAuth()
	if !ok || user == "" {
		return false
	}
	found := 0
	for _, k := range p.cfg.WriteKeys {
		found |= subtle.ConstantTimeCompare([]byte(user), []byte(k))
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
