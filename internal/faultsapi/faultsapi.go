// Package faultsapi serves GET and PUT /api/faults for `e2e serve`: it reads and changes the
// faults of the embedded example pipeline at run time, through e2e's own address, with the
// same body formats as the pipeline's own /admin/faults (examples/pipeline.DecodeFaults).
//
// GET (and HEAD) answers the current faults as JSON ({"spec":"drop=1","drop":1,...}); it
// needs no token, like the pipeline's GET and the status API. PUT replaces the faults and
// answers the new ones; it needs "Authorization: Bearer <token>", compared in constant time,
// as POST /api/cases/{name}/run of package status: 403 when the server has no token, 401 for a
// missing or wrong one. A body that is not a fault spec is 400, one larger than 4 KiB 413.
// When the service tests an external pipeline (no embedded one), every request answers 404.
package faultsapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

// Path is where the handler is mounted.
const Path = "/api/faults"

// maxBody bounds a PUT body, as the pipeline's /admin/faults does.
const maxBody = 4 << 10

// Config configures a Handler.
type Config struct {
	// Get returns the current faults and Set replaces them (the embedded pipeline's Faults and
	// SetFaults). Both nil: there is no embedded pipeline, and every request answers 404.
	Get func() pipeline.Faults
	Set func(pipeline.Faults)
	// Token is the bearer token PUT requires. Default "": PUT is disabled (403). Never logged.
	Token string
	// Logger gets one line per change of faults. Default: slog.Default().
	Logger *slog.Logger
}

// Handler is the http.Handler of /api/faults. It is safe for concurrent use.
type Handler struct {
	get      func() pipeline.Faults
	set      func(pipeline.Faults)
	hasToken bool
	tokenSum [sha256.Size]byte
	logger   *slog.Logger
}

// New returns the handler configured by c.
func New(c Config) *Handler {
	h := &Handler{get: c.Get, set: c.Set, logger: c.Logger}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if c.Token != "" {
		h.hasToken = true
		h.tokenSum = sha256.Sum256([]byte(c.Token))
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.get == nil || h.set == nil {
		writeError(w, http.StatusNotFound, "no embedded pipeline: faults can only be read and changed on the embedded default (no --api)")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeJSON(w, http.StatusOK, h.get())
	case http.MethodPut:
		h.put(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use GET or PUT")
	}
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	if !h.hasToken {
		writeError(w, http.StatusForbidden, "changing faults is disabled: no admin token is configured (--admin-token)")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orbital"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token in the Authorization header")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than 4 KiB")
			return
		}
		writeError(w, http.StatusBadRequest, "cannot read body")
		return
	}
	f, err := pipeline.DecodeFaults(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	old := h.get()
	h.set(f)
	h.logger.Info("faults changed", "from", old.String(), "to", f.String(), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, h.get())
}

// authorized compares the bearer token in constant time (over hashes, so the token's length
// does not leak either).
func (h *Handler) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
