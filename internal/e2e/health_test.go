package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthFailsWhenTheEmbeddedBrokerIsGone (issue 14): /healthz answers 200 while the
// embedded broker serves and 503 naming it once the broker is gone (the process cannot do its
// job by itself any more: an orchestrator should restart it).
func TestHealthFailsWhenTheEmbeddedBrokerIsGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := New(ctx, Config{Run: regexp.MustCompile("^track$")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Start()
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz with the broker up: %d %s", code, body)
	}
	s.target.broker.Close()
	code, body := get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "embedkafka") {
		t.Fatalf("/healthz with the broker gone: %d %q, want 503 naming the broker", code, body)
	}
}
