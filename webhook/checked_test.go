package webhook_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/webhook"
)

// checkedLogger is a CheckedLogger whose answer the test sets.
type checkedLogger struct {
	err      error
	recorded []webhook.Request
}

func (c *checkedLogger) Record(r webhook.Request) { _ = c.RecordChecked(r) }
func (c *checkedLogger) RecordChecked(r webhook.Request) error {
	if c.err != nil {
		return c.err
	}
	c.recorded = append(c.recorded, r)
	return nil
}

func TestCheckedLoggerFailureAnswers503(t *testing.T) {
	l := &checkedLogger{err: errors.New("kafka unreachable")}
	h := webhook.New(webhook.Config{Logger: l})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(`{"messageId":"a"}`)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if !strings.Contains(rec.Body.String(), "kafka unreachable") {
		t.Errorf("body %q does not say why", rec.Body.String())
	}

	l.err = nil
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(`{"messageId":"a"}`)))
	if rec.Code != http.StatusOK {
		t.Fatalf("status after recovery = %d, want 200", rec.Code)
	}
	if len(l.recorded) != 1 || l.recorded[0].Body != `{"messageId":"a"}` {
		t.Fatalf("recorded = %+v, want the one delivery", l.recorded)
	}
}
