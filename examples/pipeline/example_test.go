package pipeline_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
)

// Example runs the whole pipeline on an in-process broker: an event posted to
// the tracking API arrives, signed and processed, at a webhook.
func Example() {
	broker, err := embedkafka.Start(embedkafka.Config{})
	if err != nil {
		panic(err)
	}
	defer broker.Close()

	secret := []byte("webhook-secret")
	delivered := make(chan map[string]any, 1)
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// Standard Webhooks: webhook-signature signs "id.timestamp.body".
		// (A real receiver also refuses stale timestamps and seen ids, as
		// package webhook does.)
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		want := pipeline.SignStandard(secret, r.Header.Get("webhook-id"), ts, body)
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		delivered <- ev
	}))
	defer webhook.Close()

	p, err := pipeline.New(pipeline.Config{
		Brokers:           broker.Brokers(),
		WriteKeys:         []string{"my-write-key"},
		Destinations:      []string{webhook.URL},
		DestinationSecret: secret,
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		panic(err)
	}
	defer p.Close(ctx)
	api := httptest.NewServer(p.Handler())
	defer api.Close()

	req, _ := http.NewRequest(http.MethodPost, api.URL+"/v1/track",
		strings.NewReader(`{"messageId":"hello-1","event":"Signed Up","userId":"ada"}`))
	req.SetBasicAuth("my-write-key", "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(answer))

	ev := <-delivered
	fmt.Println(ev["messageId"], ev["event"], ev["processed"])
	// Output:
	// 200 {"success":true}
	// hello-1 Signed Up true
}

func ExampleParseFaults() {
	f, err := pipeline.ParseFaults("drop=0.1, delay=200ms")
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Drop, f.Delay, f.String())
	_, err = pipeline.ParseFaults("drop=2")
	fmt.Println(err)
	// Output:
	// 0.1 200ms drop=0.1,delay=200ms
	// fault spec "drop=2": drop=2 is not a probability between 0 and 1
}
