package status_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

func TestRunsLinkToTheTracingUI(t *testing.T) {
	f := newFixture(t, status.Config{TraceURL: "https://tracing.example/trace/{trace_id}"}, passing("track"))
	r := result("track", orbital.Fail, time.Second)
	r.TraceID = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
	f.st.Report(r)
	var runs []status.Run
	getJSON(t, f.srv.URL+"/api/cases/track/runs", 200, &runs)
	if len(runs) != 1 {
		t.Fatalf("runs = %d, want 1", len(runs))
	}
	if want := "https://tracing.example/trace/4bf92f3577b34da6a3ce929d0e0e4736"; runs[0].TraceURL != want {
		t.Errorf("trace_url = %q, want %q", runs[0].TraceURL, want)
	}

	plain := newFixture(t, status.Config{}, passing("track"))
	plain.st.Report(r)
	var plainRuns []status.Run
	getJSON(t, plain.srv.URL+"/api/cases/track/runs", 200, &plainRuns)
	if plainRuns[0].TraceURL != "" {
		t.Errorf("trace_url without Config.TraceURL = %q, want none", plainRuns[0].TraceURL)
	}
}

func TestTraceURLMustBeHTTP(t *testing.T) {
	svc := orbital.New(orbital.WithLogger(quietLogger()))
	for _, bad := range []string{
		"javascript:alert(1)//{trace_id}",
		"tracing.example/{trace_id}",
		"https://tracing.example/trace/",
		"ftp://tracing.example/{trace_id}",
	} {
		_, err := status.New(status.Config{Service: svc, TraceURL: bad})
		if err == nil {
			t.Errorf("status.New(TraceURL %q) succeeded, want an error", bad)
		}
	}
	if _, err := status.New(status.Config{Service: svc, TraceURL: "https://tracing.example/explore?trace={trace_id}&org=1"}); err != nil {
		t.Fatalf("a URL with the id in its query is valid: %v", err)
	}
	_, err := status.New(status.Config{Service: svc, TraceURL: "https://u:secret@tracing.example/{trace_id}?token=t0ken"})
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "t0ken") {
		t.Errorf("error %v: want one without the URL's credentials", err)
	}
}
