package metrics_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/metrics"
)

func TestStripTimestamps(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a 1 1700000000000\n", "a 1\n"},
		{"a 1\n", "a 1\n"},
		{`a{x="y"} 2.5 1700000000000` + "\n", `a{x="y"} 2.5` + "\n"},
		{`a{x="with space } and \" quote"} 3 17` + "\n", `a{x="with space } and \" quote"} 3` + "\n"},
		{"# TYPE a counter\n\na 1 2", "# TYPE a counter\n\na 1"},
		{"", ""},
	} {
		if got := string(metrics.StripTimestamps([]byte(tc.in))); got != tc.want {
			t.Errorf("StripTimestamps(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExpositionServesWithoutTimestamps(t *testing.T) {
	h := metrics.NewHandler()
	e := stats.NewEngine("orbital", h)
	e.Incr("runs_total", stats.T("case", "track"), stats.T("outcome", "pass"))
	e.Observe("run.duration_seconds", 2*time.Second, stats.T("case", "track"))
	srv := httptest.NewServer(metrics.Exposition(h))
	defer srv.Close()

	res, err := http.Get(srv.URL) // the transport asks for gzip and decodes it
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", res.Header.Get("Content-Type"))
	}
	text := string(body)
	if !strings.Contains(text, `orbital_runs_total{case="track",outcome="pass"} 1`+"\n") {
		t.Errorf("counter sample missing or still stamped:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if n := len(strings.Fields(line[strings.LastIndexByte(line, '}')+1:])); n != 1 {
			t.Errorf("sample line keeps %d fields after labels: %q", n, line)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if string(unz) != text {
		t.Errorf("gzip body differs from plain body")
	}

	res, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST status = %d, want 405", res.StatusCode)
	}
}
