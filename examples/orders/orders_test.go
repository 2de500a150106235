package orders_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/examples/orders"
)

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []orders.Config{
		{},
		{CallbackURL: "http://x/", Topic: "t", Brokers: []string{"b:1"}},
		{Topic: "t"},
	} {
		if _, err := orders.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// Bad orders get 400 and are never confirmed.
func TestBadOrders(t *testing.T) {
	calls := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls <- r.Header.Get("X-Order-Id")
	}))
	defer hook.Close()
	svc, err := orders.New(orders.Config{CallbackURL: hook.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	api := httptest.NewServer(svc.Handler())
	defer api.Close()
	for _, body := range []string{`not json`, `{"item":"x","quantity":1}`, `{"id":"a","quantity":1}`, `{"id":"a","item":"x","quantity":0}`} {
		resp, err := http.Post(api.URL+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s: %s, want 400", body, resp.Status)
		}
	}
	resp, err := http.Post(api.URL+"/orders", "application/json", strings.NewReader(`{"id":"good","item":"x","quantity":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("good order: %s", resp.Status)
	}
	// One queue, in order: the first confirmation is the good order's.
	if id := <-calls; id != "good" {
		t.Errorf("first confirmation for %q, want good", id)
	}
}
