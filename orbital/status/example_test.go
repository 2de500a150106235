package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// Wire a Status into a service of your own: it records every run and
// serves the status page at / and the JSON API under /api/.
func Example() {
	svc := orbital.New(orbital.WithOutput(io.Discard))
	_ = svc.Register(orbital.TestCase{Name: "track", Period: 30 * time.Second,
		Func: func(ctx context.Context, o *orbital.O) {
			o.Log("sent and delivered")
			o.Measure("delivery.latency", 120*time.Millisecond)
		}})

	// New adds the Status to svc as a reporter.
	st, err := status.New(status.Config{
		Service:    svc,
		History:    200,
		AdminToken: "", // set it to enable POST /api/cases/{name}/run
		Version:    "v1.0.0",
		Target:     "https://api.example.com",
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", st) // next to /webhook, /metrics...
	srv := httptest.NewServer(mux)
	defer srv.Close()

	svc.RunOnce(context.Background(), nil) // or svc.Run(ctx) forever

	res, err := http.Get(srv.URL + "/api/cases")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var rows []status.Row
	if err := json.NewDecoder(res.Body).Decode(&rows); err != nil {
		panic(err)
	}
	for _, r := range rows {
		fmt.Printf("%s: last %s, every %s, send→delivery p50 %.3fs\n", r.Name, r.LastOutcome, r.Period, *r.Latency.P50)
	}
	// Output:
	// track: last pass, every 30s, send→delivery p50 0.120s
}
