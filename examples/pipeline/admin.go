package pipeline

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// serveFaults serves /admin/faults.
//
// GET returns the current faults as JSON (no token needed; see
// Faults.MarshalJSON). PUT replaces them; it needs
// "Authorization: Bearer <AdminToken>" and takes either a spec in
// ParseFaults syntax as the raw body ("drop=0.1,delay=200ms"; an empty body
// clears every fault) or JSON: a spec string, {"spec":"..."}, or an object of
// the fields drop, dup, delay, corrupt, dest5xx, lose. It answers with the new
// faults. With no AdminToken configured PUT answers 404.
func (p *Pipeline) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeJSON(w, http.StatusOK, p.Faults())
	case http.MethodPut, http.MethodPost:
		if p.cfg.AdminToken == "" {
			writeJSON(w, http.StatusNotFound, apiError{Error: "admin endpoint disabled: no admin token configured"})
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(p.cfg.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pipeline-admin"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or invalid admin token (Authorization: Bearer <token>)"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: "body larger than 4 KiB"})
			return
		}
		f, err := DecodeFaults(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
			return
		}
		p.SetFaults(f)
		writeJSON(w, http.StatusOK, p.Faults())
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "method " + r.Method + " not allowed; use GET or PUT"})
	}
}

// DecodeFaults decodes a request body of PUT /admin/faults: a spec in ParseFaults syntax as
// the raw body ("drop=0.1,delay=200ms"; an empty body clears every fault), or JSON: a spec
// string, {"spec":"..."}, or an object of the fields drop, dup, delay, corrupt, dest5xx, lose.
func DecodeFaults(body []byte) (Faults, error) {
	var f Faults
	var err error
	if b := bytes.TrimSpace(body); len(b) > 0 && (b[0] == '{' || b[0] == '"') {
		err = json.Unmarshal(b, &f)
	} else {
		f, err = ParseFaults(string(b))
	}
	return f, err
}
