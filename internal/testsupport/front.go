package testsupport

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// service that must know a tester's webhook address before the tester
// listens on it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Get returns the body of GET url, failing t unless the answer is 200.
func Get(t testing.TB, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// WaitForOutcome polls a tester's status API (GET base/api/cases) until
// the case named name shows last_outcome want, and fails t with the last
// answer when d passes first.
func WaitForOutcome(t testing.TB, base, name, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		last = Get(t, base+"/api/cases")
		var rows []struct {
			Name        string `json:"name"`
			LastOutcome string `json:"last_outcome"`
		}
		if err := json.Unmarshal([]byte(last), &rows); err != nil {
			t.Fatalf("GET %s/api/cases: %v: %s", base, err, last)
		}
		for _, r := range rows {
			if r.Name == name && r.LastOutcome == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %s did not reach %q within %s; /api/cases: %s", name, want, d, last)
		}
		<-tick.C
	}
}

// HasInfBucket reports whether Prometheus text holds a +Inf bucket of the
// histogram family for the case named name.
func HasInfBucket(text, family, name string) bool {
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, family+"_bucket{") && strings.Contains(line, `case="`+name+`"`) &&
			strings.Contains(line, `le="+Inf"`) {
			return true
		}
	}
	return false
}
