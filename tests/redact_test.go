package tests_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// syncBuf is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A failed run names the webhook URL, but never the credentials that URL
// may carry (user info, a token in the query).
func TestFailureMessagesRedactWebhookURLCredentials(t *testing.T) {
	t.Parallel()
	api := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true}`)) // accepted, never delivered
	}))
	logs := &syncBuf{}
	h := &tests.Harness{
		APIURL:     api.URL,
		WriteKey:   "k",
		Waiter:     webhook.NewRouteLogger(webhook.JSONField("messageId")),
		WebhookURL: "https://user:pw-secret@hooks.example.com/webhook?token=tok-secret#frag-secret",
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
	}
	r := runCases(t, h, 300*time.Millisecond, nil, "track")["track"]
	if r.Outcome != orbital.Fail {
		t.Fatalf("track: %s, want a failure", describe(r))
	}
	for name, text := range map[string]string{"output": r.Output, "error": r.Error, "log": logs.String()} {
		for _, s := range []string{"pw-secret", "tok-secret", "frag-secret"} {
			if strings.Contains(text, s) {
				t.Errorf("%s contains %q:\n%s", name, s, text)
			}
		}
	}
	if !strings.Contains(r.Output, "https://hooks.example.com/webhook") {
		t.Errorf("output does not name the webhook:\n%s", r.Output)
	}
}
