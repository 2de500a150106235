package orbital_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
)

// trackAPI stands in for the tracking API of the pipeline under test.
func trackAPI() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
}

// printReporter prints each result; a real service would feed a status page.
type printReporter struct{}

func (printReporter) Report(r orbital.Result) {
	fmt.Printf("%s: %s\n", r.Case, r.Outcome)
}

// An end-to-end test is written like a unit test, registered with a period
// and run by the service forever (Run) or once, as a CI gate does (RunOnce).
func Example() {
	api := trackAPI()
	defer api.Close()

	svc := orbital.New(
		orbital.WithTimeout(time.Minute),
		orbital.WithReporter(printReporter{}),
		orbital.WithOutput(io.Discard), // go test style output; os.Stderr by default
		orbital.WithLogger(slog.New(slog.DiscardHandler)),
	)
	err := svc.Register(orbital.TestCase{
		Name:   "http.track",
		Period: 30 * time.Second,
		Tags:   []stats.Tag{stats.T("team", "ingest")},
		Func: func(ctx context.Context, o *orbital.O) {
			o.Run("accepts", func(ctx context.Context, o *orbital.O) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.URL+"/v1/track", nil)
				if err != nil {
					o.Fatal(err)
				}
				req.Header.Set("X-Message-Id", o.TraceID())
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					o.Fatalf("send: %v", err)
				}
				o.Cleanup(func() { resp.Body.Close() })
				o.Measure("send.latency", time.Since(start))
				if resp.StatusCode != http.StatusAccepted {
					o.Errorf("status %d, want 202", resp.StatusCode)
				}
			})
			o.Run("rejects GET", func(ctx context.Context, o *orbital.O) {
				resp, err := http.Get(api.URL + "/v1/track")
				if err != nil {
					o.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusMethodNotAllowed {
					o.Errorf("status %d, want 405", resp.StatusCode)
				}
			})
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The service runs svc.Run(ctx) until shutdown; a gate runs each case once.
	results := svc.RunOnce(context.Background(), nil)
	fmt.Println(len(results), "results")
	// Output:
	// http.track/accepts: pass
	// http.track/rejects_GET: pass
	// http.track: pass
	// 3 results
}

// A test case that is not finished yet can skip itself; skipped runs are
// counted with outcome "skip".
func ExampleO_Skip() {
	svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	_ = svc.Register(orbital.TestCase{
		Name:   "browser.snippet",
		Period: time.Minute,
		Func: func(ctx context.Context, o *orbital.O) {
			o.Skip("no browser on this host")
		},
	})
	for _, r := range svc.RunOnce(context.Background(), nil) {
		fmt.Println(r.Case, r.Outcome)
	}
	// Output: browser.snippet skip
}

// Trouble on the prober's own side says nothing about the system under
// test: the run ends inconclusive, which counts neither as a pass nor
// against the success ratio. A run whose context is cancelled before it
// failed (the service stopping, a cancelled manual run) ends the same way.
func ExampleO_Inconclusive() {
	svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	_ = svc.Register(orbital.TestCase{
		Name:   "cluster.track",
		Period: time.Minute,
		Func: func(ctx context.Context, o *orbital.O) {
			relayErr := errors.New("kafka unreachable")
			o.Inconclusivef("the cluster relay is down (%v): a delivery may have landed on another replica", relayErr)
		},
	})
	for _, r := range svc.RunOnce(context.Background(), nil) {
		fmt.Println(r.Case, r.Outcome)
		fmt.Println(r.Error)
	}
	// Output:
	// cluster.track inconclusive
	// the cluster relay is down (kafka unreachable): a delivery may have landed on another replica
}
