package pipeline_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestShortPathsAndBodyWriteKey sends what analytics.js sends (the short
// paths, the write key in the body, a text/plain body) next to the long
// paths of the server-side libraries, and checks that each event is delivered
// without its write key.
func TestShortPathsAndBodyWriteKey(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	plain := func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }
	basicPlain := func(r *http.Request) { plain(r); r.SetBasicAuth(writeKey, "") }
	for _, tc := range []struct {
		name, path, body string
		prepare          func(*http.Request)
		ids              []string
	}{
		{"t with body key", "/v1/t", `{"type":"track","event":"e","userId":"u","messageId":"short-t","writeKey":"` + writeKey + `"}`, plain, []string{"short-t"}},
		{"p with body key", "/v1/p", `{"type":"page","name":"Home","anonymousId":"a","messageId":"short-p","writeKey":"` + writeKey + `"}`, plain, []string{"short-p"}},
		{"i with body key", "/v1/i", `{"type":"identify","userId":"u","traits":{"plan":"pro"},"messageId":"short-i","writeKey":"second-key"}`, plain, []string{"short-i"}},
		{"s with basic", "/v1/s", `{"type":"screen","name":"Home","userId":"u","messageId":"short-s"}`, basicPlain, []string{"short-s"}},
		{"g with basic", "/v1/g", `{"type":"group","groupId":"g1","userId":"u","messageId":"short-g"}`, basicPlain, []string{"short-g"}},
		{"a with basic", "/v1/a", `{"type":"alias","previousId":"old","userId":"u","messageId":"short-a"}`, basicPlain, []string{"short-a"}},
		{"identify long path", "/v1/identify", `{"userId":"u","messageId":"long-i"}`, basicPlain, []string{"long-i"}},
		{"screen long path", "/v1/screen", `{"userId":"u","name":"S","messageId":"long-s"}`, basicPlain, []string{"long-s"}},
		{"group long path", "/v1/group", `{"userId":"u","groupId":"g","messageId":"long-g"}`, basicPlain, []string{"long-g"}},
		{"alias long path", "/v1/alias", `{"userId":"u","previousId":"p","messageId":"long-a"}`, basicPlain, []string{"long-a"}},
		{"b with batch key", "/v1/b", `{"writeKey":"` + writeKey + `","batch":[{"type":"track","event":"e","userId":"u","messageId":"b-1"},{"type":"identify","userId":"u","messageId":"b-2"}]}`, plain, []string{"b-1", "b-2"}},
		{"b with event keys", "/v1/b", `{"batch":[{"type":"track","event":"e","userId":"u","messageId":"b-3","writeKey":"` + writeKey + `"},{"type":"page","userId":"u","messageId":"b-4","writeKey":"second-key"}]}`, plain, []string{"b-3", "b-4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := doPost(t, e.api.URL+tc.path, tc.body, tc.prepare)
			if status != http.StatusOK || body["success"] != true {
				t.Fatalf("status %d %v, want 200 success", status, body)
			}
			for _, id := range tc.ids {
				d := e.dest.waitForID(t, id, 1)[0]
				if _, ok := d.Event["writeKey"]; ok || strings.Contains(string(d.Body), writeKey) || strings.Contains(string(d.Body), "second-key") {
					t.Errorf("delivery of %s carries the write key: %s", id, d.Body)
				}
			}
		})
	}
}

// TestBodyWriteKeyRefused: a write key in the body is checked like a Basic
// one, and a Basic key that is wrong is refused whatever the body says.
func TestBodyWriteKeyRefused(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	plain := func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }
	for _, tc := range []struct {
		name, path, body string
		prepare          func(*http.Request)
	}{
		{"wrong body key", "/v1/t", `{"type":"track","event":"e","userId":"u","writeKey":"nope"}`, plain},
		{"non-string body key", "/v1/t", `{"type":"track","event":"e","userId":"u","writeKey":7}`, plain},
		{"malformed body without basic", "/v1/t", `{"writeKey":"` + writeKey + `",`, plain},
		{"wrong basic, right body key", "/v1/t", `{"type":"track","event":"e","userId":"u","writeKey":"` + writeKey + `"}`,
			func(r *http.Request) { plain(r); r.SetBasicAuth("nope", "") }},
		{"wrong batch key", "/v1/b", `{"writeKey":"nope","batch":[{"type":"track","event":"e","userId":"u","writeKey":"` + writeKey + `"}]}`, plain},
		{"one batch event without key", "/v1/b", `{"batch":[{"type":"track","event":"e","userId":"u","writeKey":"` + writeKey + `"},{"type":"track","event":"e","userId":"u"}]}`, plain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(e.metrics, "rejected_total", "reason", "unauthorized")
			status, body := doPost(t, e.api.URL+tc.path, tc.body, tc.prepare)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d %v, want 401", status, body)
			}
			if got := counter(e.metrics, "rejected_total", "reason", "unauthorized"); got != before+1 {
				t.Errorf("rejected_total{reason=unauthorized} went from %v to %v, want +1", before, got)
			}
		})
	}
}

// TestBatchFieldsMerged: a batch's context, integrations and sentAt reach
// each of its events, the event's own values winning, as Segment's API
// merges them (analytics-go puts context.library at the batch level only).
func TestBatchFieldsMerged(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	status, body := e.post("/v1/batch", `{
		"messageId": "the-batch", "sentAt": "2026-01-02T03:04:05.678Z",
		"context": {"library": {"name": "analytics-go", "version": "3.0.0"}, "ip": "10.0.0.1"},
		"integrations": {"All": true, "Mixpanel": false},
		"batch": [
			{"type": "track", "event": "e", "userId": "u", "messageId": "merge-1"},
			{"type": "track", "event": "e", "userId": "u", "messageId": "merge-2",
			 "sentAt": "2026-01-02T03:04:00Z",
			 "context": {"ip": "10.0.0.2", "page": {"path": "/"}},
			 "integrations": {"Mixpanel": true}}
		]}`)
	if status != http.StatusOK {
		t.Fatalf("batch: %d %v", status, body)
	}
	for id, want := range map[string]string{
		"merge-1": `{"sentAt":"2026-01-02T03:04:05.678Z",
			"context":{"library":{"name":"analytics-go","version":"3.0.0"},"ip":"10.0.0.1"},
			"integrations":{"All":true,"Mixpanel":false}}`,
		"merge-2": `{"sentAt":"2026-01-02T03:04:00Z",
			"context":{"library":{"name":"analytics-go","version":"3.0.0"},"ip":"10.0.0.2","page":{"path":"/"}},
			"integrations":{"All":true,"Mixpanel":true}}`,
	} {
		d := e.dest.waitForID(t, id, 1)[0]
		var w map[string]any
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		for k, v := range w {
			if g, _ := json.Marshal(d.Event[k]); !jsonEqual(t, g, v) {
				t.Errorf("%s: %s = %s, want %s", id, k, g, mustJSON(v))
			}
		}
	}

	for _, bad := range []string{
		`{"context":[1],"batch":[{"type":"track","event":"e","userId":"u"}]}`,
		`{"integrations":"all","batch":[{"type":"track","event":"e","userId":"u"}]}`,
		`{"sentAt":"yesterday","batch":[{"type":"track","event":"e","userId":"u"}]}`,
		`{"sentAt":5,"batch":[{"type":"track","event":"e","userId":"u"}]}`,
	} {
		if status, body := e.post("/v1/batch", bad); status != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", bad, status, body)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonEqual(t *testing.T, got []byte, want any) bool {
	t.Helper()
	var g any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	return mustJSON(g) == mustJSON(want) // encoding/json sorts map keys
}

// TestSettings: GET /v1/projects/{writeKey}/settings answers the settings
// analytics.js needs to send to this API (the host asked, /v1), and 404 for
// an unknown key.
func TestSettings(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	u, _ := url.Parse(e.api.URL)
	resp, err := http.Get(e.api.URL + "/v1/projects/" + writeKey + "/settings")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("settings: %d, ACAO %q: %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), b)
	}
	var s struct {
		Integrations map[string]map[string]any `json:"integrations"`
		Metrics      map[string]any            `json:"metrics"`
		Remote       []any                     `json:"remotePlugins"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("settings are not JSON: %v: %s", err, b)
	}
	seg := s.Integrations["Segment.io"]
	if seg["apiHost"] != u.Host+"/v1" || seg["protocol"] != "http" || seg["apiKey"] != writeKey {
		t.Errorf(`integrations."Segment.io" = %v, want apiHost %s/v1, protocol http, apiKey the write key`, seg, u.Host)
	}
	if len(s.Integrations) != 1 || s.Metrics["sampleRate"] != 0.0 || s.Remote == nil || len(s.Remote) != 0 {
		t.Errorf("settings %s: want only Segment.io, metrics sampleRate 0, no remote plugins", b)
	}

	resp, err = http.Get(e.api.URL + "/v1/projects/not-a-key/settings")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("unknown key: %d, ACAO %q; want 404 readable cross-origin", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestCORSOnEveryAnswer: errors too carry the CORS headers (a browser that
// cannot read an error sees only "Failed to fetch"), and every API path
// answers the preflight analytics.js's requests need.
func TestCORSOnEveryAnswer(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	for _, tc := range []struct {
		method, path, contentType, body string
		basic                           bool
		want                            int
	}{
		{"POST", "/v1/t", "text/plain", `{"type":"track","event":"e","userId":"u","writeKey":"` + writeKey + `"}`, false, 200},
		{"POST", "/v1/t", "text/plain", `{"type":"track","event":"e","userId":"u"}`, false, 401},
		{"POST", "/v1/t", "text/plain", `{"type":"track","userId":"u"}`, true, 400},
		{"POST", "/v1/t", "text/html", `{}`, true, 415},
		{"POST", "/v1/t", "text/plain", `{"pad":"` + strings.Repeat("x", 40<<10) + `"}`, true, 413},
		{"GET", "/v1/t", "", "", true, 405},
		{"GET", "/v1/nope", "", "", false, 404},
		{"GET", "/v1/projects/nope/settings", "", "", false, 404},
		{"OPTIONS", "/v1/t", "", "", false, 204},
		{"OPTIONS", "/v1/b", "", "", false, 204},
		{"OPTIONS", "/v1/projects/" + writeKey + "/settings", "", "", false, 204},
	} {
		t.Run(tc.method+" "+tc.path+" "+http.StatusText(tc.want), func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.api.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Origin", "http://shop.example")
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.basic {
				req.SetBasicAuth(writeKey, "")
			}
			if tc.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-retry-count")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			h := resp.Header
			if h.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", h.Get("Access-Control-Allow-Origin"))
			}
			if !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Errorf("Access-Control-Expose-Headers %q does not expose Retry-After", h.Get("Access-Control-Expose-Headers"))
			}
			for _, want := range []string{"Authorization", "Content-Type", "X-Retry-Count"} {
				if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
				}
			}
		})
	}
}
