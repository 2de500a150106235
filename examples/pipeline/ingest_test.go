package pipeline_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/examples/pipeline"
)

func TestIngestValidationAndAuth(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	big := `{"event":"big","userId":"u","properties":{"pad":"` + strings.Repeat("x", pipeline.MaxEventBytes) + `"}}`
	var batchItems []string
	for range 20 {
		batchItems = append(batchItems, `{"type":"track","event":"e","userId":"u","properties":{"pad":"`+strings.Repeat("y", 30<<10)+`"}}`)
	}
	hugeBatch := `{"batch":[` + strings.Join(batchItems, ",") + `]}`

	json := func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }
	auth := func(user string) func(*http.Request) {
		return func(r *http.Request) { json(r); r.SetBasicAuth(user, "") }
	}
	tests := []struct {
		name    string
		path    string
		body    string
		prepare func(*http.Request)
		want    int
		reason  string // rejected_total reason, "" for accepted
	}{
		{"track ok", "/v1/track", `{"event":"Signed Up","userId":"u1","properties":{"plan":"pro"}}`, auth(writeKey), 200, ""},
		{"second key ok", "/v1/track", `{"event":"e","anonymousId":"a1"}`, auth("second-key"), 200, ""},
		{"numeric user id ok", "/v1/track", `{"event":"e","userId":42}`, auth(writeKey), 200, ""},
		{"content type with charset ok", "/v1/track", `{"event":"e","userId":"u"}`, func(r *http.Request) {
			r.SetBasicAuth(writeKey, "x")
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
		}, 200, ""},
		{"page ok", "/v1/page", `{"name":"Home","anonymousId":"a1"}`, auth(writeKey), 200, ""},
		{"batch ok", "/v1/batch", `{"batch":[{"type":"track","event":"a","userId":"u"},{"type":"page","userId":"u"}]}`, auth(writeKey), 200, ""},
		{"missing key", "/v1/track", `{"event":"e","userId":"u"}`, json, 401, "unauthorized"},
		{"wrong key", "/v1/track", `{"event":"e","userId":"u"}`, auth("nope"), 401, "unauthorized"},
		{"key as password only", "/v1/track", `{"event":"e","userId":"u"}`, func(r *http.Request) { json(r); r.SetBasicAuth("", writeKey) }, 401, "unauthorized"},
		{"bearer instead of basic", "/v1/track", `{"event":"e","userId":"u"}`, func(r *http.Request) { json(r); r.Header.Set("Authorization", "Bearer "+writeKey) }, 401, "unauthorized"},
		{"no content type", "/v1/track", `{"event":"e","userId":"u"}`, func(r *http.Request) { r.SetBasicAuth(writeKey, "") }, 415, "content_type"},
		{"form content type", "/v1/track", `{"event":"e","userId":"u"}`, func(r *http.Request) {
			r.SetBasicAuth(writeKey, "")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, 415, "content_type"},
		{"invalid JSON", "/v1/track", `{"event":`, auth(writeKey), 400, "invalid"},
		{"trailing garbage", "/v1/track", `{"event":"e","userId":"u"} x`, auth(writeKey), 400, "invalid"},
		{"not an object", "/v1/track", `["event"]`, auth(writeKey), 400, "invalid"},
		{"empty body", "/v1/track", ``, auth(writeKey), 400, "invalid"},
		{"missing user id", "/v1/track", `{"event":"e"}`, auth(writeKey), 400, "invalid"},
		{"empty user id", "/v1/track", `{"event":"e","userId":""}`, auth(writeKey), 400, "invalid"},
		{"track without event", "/v1/track", `{"userId":"u"}`, auth(writeKey), 400, "invalid"},
		{"wrong type for endpoint", "/v1/track", `{"type":"page","event":"e","userId":"u"}`, auth(writeKey), 400, "invalid"},
		{"properties not an object", "/v1/track", `{"event":"e","userId":"u","properties":[1]}`, auth(writeKey), 400, "invalid"},
		{"bad timestamp", "/v1/track", `{"event":"e","userId":"u","timestamp":"yesterday"}`, auth(writeKey), 400, "invalid"},
		{"numeric messageId", "/v1/track", `{"event":"e","userId":"u","messageId":7}`, auth(writeKey), 400, "invalid"},
		{"event over 32 KB", "/v1/track", big, auth(writeKey), 413, "too_large"},
		{"batch over 500 KB", "/v1/batch", hugeBatch, auth(writeKey), 413, "too_large"},
		{"event over 32 KB in batch", "/v1/batch", `{"batch":[` + big[:len(big)-1] + `,"type":"track"}]}`, auth(writeKey), 413, "too_large"},
		{"batch not an array", "/v1/batch", `{"batch":{}}`, auth(writeKey), 400, "invalid"},
		{"empty batch", "/v1/batch", `{"batch":[]}`, auth(writeKey), 400, "invalid"},
		{"batch item without type", "/v1/batch", `{"batch":[{"event":"e","userId":"u"}]}`, auth(writeKey), 400, "invalid"},
		{"batch item unknown type", "/v1/batch", `{"batch":[{"type":"nope","userId":"u"}]}`, auth(writeKey), 400, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(e.metrics, "rejected_total", "reason", tt.reason)
			status, body := doPost(t, e.api.URL+tt.path, tt.body, tt.prepare)
			if status != tt.want {
				t.Fatalf("status %d, want %d; body %v", status, tt.want, body)
			}
			if tt.want == 200 {
				if body["success"] != true {
					t.Errorf("body %v, want success true", body)
				}
				return
			}
			if msg, _ := body["error"].(string); msg == "" {
				t.Errorf("body %v has no error message", body)
			}
			if got := counter(e.metrics, "rejected_total", "reason", tt.reason); got != before+1 {
				t.Errorf("rejected_total{reason=%q} went from %v to %v, want +1", tt.reason, before, got)
			}
		})
	}
}

func TestIngestMethodsAndCORS(t *testing.T) {
	e := newEnv(t, nil, nil, nil)

	req, _ := http.NewRequest(http.MethodOptions, e.api.URL+"/v1/track", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("preflight status %d, want 204", resp.StatusCode)
	}
	h := resp.Header
	if h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight headers %v do not allow a cross-origin POST with Authorization", h)
	}

	tests := []struct {
		method, path string
		want         int
		contentType  string
	}{
		{"GET", "/v1/track", 405, "application/json"},
		{"GET", "/healthz", 200, "application/json"},
		{"GET", "/readyz", 200, "application/json"},
		{"GET", "/analytics.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/demo", 200, "text/html; charset=utf-8"},
		{"GET", "/nope", 404, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.api.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("%d %q, want %d %q; body %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.want, tt.contentType, b)
			}
			switch tt.path {
			case "/analytics.js":
				for _, api := range []string{"analytics.track", "analytics.page", "analytics.load", "messageId", "Basic "} {
					if !strings.Contains(string(b), api) && !strings.Contains(string(b), strings.TrimPrefix(api, "analytics.")) {
						t.Errorf("snippet lacks %q", api)
					}
				}
			case "/demo":
				if !strings.Contains(string(b), `id="status"`) || !strings.Contains(string(b), `src="/analytics.js"`) {
					t.Errorf("demo page lacks #status or the snippet")
				}
			}
		})
	}
}

func TestKafkaDownAnswers503(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	e.track("before-outage", "e")
	e.broker.Close()

	status, body := e.post("/v1/track", `{"event":"e","userId":"u"}`)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("with Kafka down: %d %v, want 503", status, body)
	}
	if msg, _ := body["error"].(string); msg == "" {
		t.Errorf("503 body %v has no error", body)
	}
	resp, err := http.Get(e.api.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Kafka down: %d, want 503", resp.StatusCode)
	}
	resp, err = http.Get(e.api.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with Kafka down: %d, want 200", resp.StatusCode)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  pipeline.Config
	}{
		{"no brokers", pipeline.Config{}},
		{"bad destination", pipeline.Config{Brokers: []string{"127.0.0.1:1"}, Destinations: []string{"ftp://x"}}},
		{"same topics", pipeline.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", DeadLetterTopic: "t"}},
		{"bad faults", pipeline.Config{Brokers: []string{"127.0.0.1:1"}, Faults: pipeline.Faults{Drop: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pipeline.New(tt.cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}

// TestNoBasicChallengeForBrowsers: a 401 carries a Basic challenge for API
// clients, but not for browser requests (with Origin), where the challenge
// would open a login prompt instead of letting analytics.js report the error.
func TestNoBasicChallengeForBrowsers(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	tests := []struct {
		name, origin  string
		wantChallenge bool
	}{
		{"API client", "", true},
		{"browser", "https://shop.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/v1/track", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("status %d, ACAO %q; want 401 readable cross-origin", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if got := resp.Header.Get("WWW-Authenticate") != ""; got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate present = %v, want %v", got, tt.wantChallenge)
			}
		})
	}
}
