package load_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/webhook"
)

// Send 50 events per second for a second through a tracking API and account
// for each of them. Here the "pipeline" delivers every event straight back to
// the RouteLogger; in e2e it is the real one, delivering to /webhook.
func ExampleRun() {
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rl.Record(webhook.Request{Body: string(body), ReceivedAt: time.Now()})
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	defer api.Close()

	rep, err := load.Run(context.Background(), load.Config{
		APIURL:   api.URL,
		WriteKey: "my-write-key",
		Waiter:   rl,
		Rate:     50,
		Duration: time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Sent, rep.Sent == rep.Matched+rep.Lost, rep.Lost)
	// Output: 50 true 0
}
