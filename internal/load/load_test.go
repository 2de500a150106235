package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/webhook"
)

const writeKey = "wk-load-test-secret-7f3a"

// fakeAPI is a tracking API that answers with status(seq) and, for a 200,
// delivers the event to rl after delay(seq) (never when delay is negative).
type fakeAPI struct {
	rl     *webhook.RouteLogger
	status func(seq int) int
	delay  func(seq int) time.Duration

	wg sync.WaitGroup // delayed deliveries
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, _, _ := r.BasicAuth(); u != writeKey || r.URL.Path != "/v1/track" {
		http.Error(w, `{"success":false}`, http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		MessageID  string `json:"messageId"`
		Properties struct {
			Seq int `json:"seq"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.MessageID == "" {
		http.Error(w, `{"success":false}`, http.StatusBadRequest)
		return
	}
	seq := ev.Properties.Seq
	if s := f.status(seq); s != http.StatusOK {
		w.WriteHeader(s)
		return
	}
	_, _ = io.WriteString(w, `{"success":true}`)
	d := f.delay(seq)
	if d < 0 {
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		time.Sleep(d) // the pipeline's latency, not synchronisation
		f.rl.Record(webhook.Request{Body: string(body), ReceivedAt: time.Now()})
	}()
}

func newAPI(t *testing.T, status func(int) int, delay func(int) time.Duration) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{rl: webhook.NewRouteLogger(webhook.JSONField("messageId")), status: status, delay: delay}
	srv := httptest.NewServer(f)
	t.Cleanup(func() { srv.Close(); f.wg.Wait() })
	return f, srv
}

func ok(int) int              { return http.StatusOK }
func quick(int) time.Duration { return time.Millisecond }

// every answers status to every nth event and 200 to the others.
func every(n, status int) func(int) int {
	return func(seq int) int {
		if seq%n == 0 {
			return status
		}
		return http.StatusOK
	}
}

func TestRunAccountsForEveryEvent(t *testing.T) {
	tests := []struct {
		name    string
		status  func(int) int
		delay   func(int) time.Duration
		reasons map[string]func(sent int) int // reason → expected count from sent
	}{
		{"all delivered", ok, quick, nil},
		{"every 4th gets 503", every(4, 503), quick, map[string]func(int) int{
			"http 503": func(n int) int { return (n + 3) / 4 },
		}},
		{"every 3rd dropped", ok, func(seq int) time.Duration {
			if seq%3 == 0 {
				return -1
			}
			return time.Millisecond
		}, map[string]func(int) int{
			"not delivered within 300ms": func(n int) int { return (n + 2) / 3 },
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newAPI(t, tt.status, tt.delay)
			rep, err := load.Run(context.Background(), load.Config{
				APIURL: srv.URL, WriteKey: writeKey, Waiter: f.rl,
				Rate: 400, Duration: 500 * time.Millisecond, DeliveryTimeout: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if rep.Sent < 150 || rep.Sent > 200 {
				t.Errorf("sent %d events at 400/s for 0.5s, want 150..200", rep.Sent)
			}
			if rep.Sent != rep.Matched+rep.Lost {
				t.Fatalf("sent %d != matched %d + lost %d", rep.Sent, rep.Matched, rep.Lost)
			}
			wantLost := 0
			for reason, n := range tt.reasons {
				want := n(rep.Sent)
				wantLost += want
				if rep.LostReasons[reason] != want {
					t.Errorf("lost %q = %d, want %d (reasons %v)", reason, rep.LostReasons[reason], want, rep.LostReasons)
				}
			}
			if rep.Lost != wantLost || len(rep.LostReasons) != len(tt.reasons) {
				t.Errorf("lost %d %v, want %d", rep.Lost, rep.LostReasons, wantLost)
			}
			if rep.Matched > 0 && (rep.P50 <= 0 || rep.P99 < rep.P50 || rep.Max < rep.P99 || rep.Throughput <= 0) {
				t.Errorf("latency p50 %s p99 %s max %s throughput %.1f", rep.P50, rep.P99, rep.Max, rep.Throughput)
			}
			if f.rl.Len() != 0 {
				t.Errorf("%d keys left pending on the waiter", f.rl.Len())
			}
		})
	}
}

func TestRunSendErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var logs bytes.Buffer
		rep, err := load.Run(context.Background(), load.Config{
			APIURL: "http://" + addr, WriteKey: writeKey, Waiter: webhook.NewRouteLogger(webhook.JSONField("messageId")),
			Rate: 100, Duration: 200 * time.Millisecond, DeliveryTimeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent == 0 || rep.Lost != rep.Sent || len(rep.LostReasons) != 1 {
			t.Fatalf("want every event lost with one reason: %s", rep)
		}
		for reason := range rep.LostReasons {
			if !strings.HasPrefix(reason, "send error: ") || !strings.Contains(reason, "connection refused") || strings.Contains(reason, "/v1/track") {
				t.Errorf("reason %q: want a short send error naming the cause", reason)
			}
		}
		if strings.Contains(logs.String()+rep.String(), writeKey) {
			t.Error("the write key leaked into the logs or the report")
		}
	})
	t.Run("DNS failure", func(t *testing.T) {
		rep, err := load.Run(context.Background(), load.Config{
			APIURL: "http://api.invalid", WriteKey: writeKey, Waiter: webhook.NewRouteLogger(webhook.JSONField("messageId")),
			Rate: 20, Duration: 100 * time.Millisecond, DeliveryTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent == 0 || rep.Lost != rep.Sent {
			t.Fatalf("want every event lost: %s", rep)
		}
		for reason := range rep.LostReasons {
			if !strings.Contains(reason, "api.invalid") {
				t.Errorf("reason %q does not name the host", reason)
			}
		}
	})
}

// TestRunCancel: cancelling ctx stops sending, and the events in flight are
// still delivered and counted, not failed by the cancellation.
func TestRunCancel(t *testing.T) {
	f, srv := newAPI(t, ok, func(int) time.Duration { return 150 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan load.Report)
	go func() {
		rep, err := load.Run(ctx, load.Config{
			APIURL: srv.URL, WriteKey: writeKey, Waiter: f.rl,
			Rate: 200, Duration: time.Minute, DeliveryTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	// Cancel once some events are in flight: the waiter holds pending keys.
	deadline := time.Now().Add(10 * time.Second)
	for f.rl.Len() < 10 {
		if time.Now().After(deadline) {
			t.Fatal("no event in flight after 10s")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	cancel()
	select {
	case rep := <-done:
		t.Log(rep)
		if !rep.Interrupted || rep.Sent == 0 || rep.Sent >= 200*60 {
			t.Fatalf("want an interrupted run with some events: %s", rep)
		}
		if rep.Lost != 0 || rep.Matched != rep.Sent {
			t.Fatalf("in-flight events were dropped or failed by the cancellation: %s", rep)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the cancellation")
	}
}

func TestRunConfigErrors(t *testing.T) {
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	tests := []struct {
		name string
		cfg  load.Config
	}{
		{"no API", load.Config{Waiter: rl}},
		{"bad API", load.Config{APIURL: "ftp://x", Waiter: rl}},
		{"no waiter", load.Config{APIURL: "http://127.0.0.1:1"}},
		{"negative rate", load.Config{APIURL: "http://127.0.0.1:1", Waiter: rl, Rate: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := load.Run(context.Background(), tt.cfg); !errors.Is(err, load.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestReportString(t *testing.T) {
	r := load.Report{Sent: 10, Matched: 7, Lost: 3, LostReasons: map[string]int{"http 503": 2, "not delivered within 10s": 1},
		Rate: 100, SendRate: 99.5, Throughput: 98.25, P50: 3 * time.Millisecond, P99: 12 * time.Millisecond, Max: 20 * time.Millisecond, Elapsed: time.Second}
	want := "sent 10, matched 7, lost 3 (2 http 503; 1 not delivered within 10s); throughput 98.2 ev/s (target 100/s, sent 99.5/s); delivery p50 3ms p99 12ms max 20ms; elapsed 1s"
	if got := r.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if r.OK() || !(load.Report{Sent: 1, Matched: 1}).OK() {
		t.Fatal("OK is wrong")
	}
}
