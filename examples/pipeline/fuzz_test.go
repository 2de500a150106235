package pipeline_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

// FuzzIngest posts arbitrary bodies and content types to the tracking API:
// the answer is never a 5xx other than 503, never a panic, and always JSON.
func FuzzIngest(f *testing.F) {
	seeds := []string{
		`{"event":"e","userId":"u"}`,
		`{"type":"page","anonymousId":"a","properties":{"x":[1,2,{"y":null}]}}`,
		`{"batch":[{"type":"track","event":"e","userId":"u","messageId":"m"}]}`,
		`{"batch":[{"type":"identify","userId":1e400}]}`,
		`{"event":"\ud800","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`,
		`{"event":"e","userId":"u","messageId":null,"context":null}`,
		`[]`, `null`, `{`, "\x00\xff", `{"batch":null}`, `{"batch":[null]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), "application/json", true, []byte(s))
	}
	f.Add(uint8(0), "text/plain", true, []byte(`{"event":"e","userId":"u"}`))
	f.Add(uint8(1), "application/json;;", false, []byte(`{}`))
	f.Add(uint8(3), "text/plain", false, []byte(`{"type":"track","event":"e","userId":"u","writeKey":"`+writeKey+`"}`))
	f.Add(uint8(5), "text/plain", false, []byte(`{"writeKey":"`+writeKey+`","context":{"a":1},"sentAt":"2024-01-01T00:00:00Z","batch":[{"type":"track","event":"e","userId":"u","context":null}]}`))

	e := newEnv(f, nil, nil, nil)
	h := e.p.Handler()
	paths := []string{"/v1/track", "/v1/page", "/v1/batch", "/v1/t", "/v1/i", "/v1/b", "/v1/alias"}
	f.Fuzz(func(t *testing.T, pathIdx uint8, contentType string, auth bool, body []byte) {
		req := httptest.NewRequest(http.MethodPost, paths[int(pathIdx)%len(paths)], bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if auth {
			req.SetBasicAuth(writeKey, "")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var answer struct {
			Success *bool   `json:"success"`
			Error   *string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Success == nil {
			t.Fatalf("answer %q is not the API's JSON: %v", rec.Body.Bytes(), err)
		}
		if (rec.Code == http.StatusOK) != *answer.Success || (rec.Code != http.StatusOK && (answer.Error == nil || *answer.Error == "")) {
			t.Fatalf("status %d with answer %s", rec.Code, rec.Body.Bytes())
		}
	})
}

// FuzzParseFaults checks that ParseFaults never panics and that whatever it
// accepts round-trips through String.
func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{"", "drop=0.1,dup=0.05,delay=200ms,corrupt=0.01,dest5xx=0.2,lose=0.3", "delay=1h", "drop=1e-9", "x=y,", "=,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := pipeline.ParseFaults(spec)
		if err != nil {
			return
		}
		again, err := pipeline.ParseFaults(got.String())
		if err != nil || again != got {
			t.Fatalf("ParseFaults(%q) = %+v; String %q parses to %+v, %v", spec, got, got.String(), again, err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var back pipeline.Faults
		if err := json.Unmarshal(b, &back); err != nil || back != got {
			t.Fatalf("%s reads back as %+v, %v", b, back, err)
		}
	})
}
