package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
)

func Example() {
	// The service: one RouteLogger behind the Webhook.
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	srv := httptest.NewServer(webhook.New(webhook.Config{Logger: rl}))
	defer srv.Close()

	// A test: declare the key, send the event, wait for it to come back.
	const id = "3f2a9c1e-msg"
	if err := rl.Sent(id); err != nil {
		fmt.Println(err)
		return
	}
	defer rl.Delete(id)

	// Here the "pipeline" is us posting the delivery.
	resp, err := http.Post(srv.URL+"/webhook", "application/json",
		strings.NewReader(`{"messageId":"`+id+`","event":"Signed Up"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := rl.Wait(ctx, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Method, req.Body)
	// Exactly once: nothing beyond the delivery Wait returned.
	fmt.Println(rl.WaitNone(ctx, id, 50*time.Millisecond))
	// Output:
	// POST {"messageId":"3f2a9c1e-msg","event":"Signed Up"}
	// <nil>
}

func ExampleRouteLogger_WaitN() {
	rl := webhook.NewRouteLogger(webhook.Header("X-Trace-Id"))
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		_ = rl.Sent(k)
	}
	for _, k := range keys {
		rl.Record(webhook.Request{Header: http.Header{"X-Trace-Id": {k}}})
	}
	got, err := rl.WaitN(context.Background(), len(keys), keys...)
	fmt.Println(len(got), err, len(rl.Received("b")))
	// Output: 3 <nil> 1
}

// A sender signs a delivery as Standard Webhooks: a delivery id (the same on
// every retry), the attempt's Unix time, and the signature over
// "id.timestamp.body". The reference vector of the specification:
func ExampleSignStandard() {
	body := []byte(`{"test": 2432232314}`)
	sig := webhook.SignStandard([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	fmt.Println(sig)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}
