package webhook_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orbital-e2e/orbital/webhook"
	"github.com/orbital-e2e/orbital/webhook/waitertest"
)

func TestRouteLoggerSuite(t *testing.T) {
	waitertest.Run(t, func(t *testing.T) waitertest.Setup {
		rl := webhook.NewRouteLogger(webhook.JSONField(waitertest.KeyField))
		return waitertest.Setup{Waiter: rl, Deliver: rl.Record}
	})
}

// TestRouteLoggerSuiteOverHTTP runs the suite with every delivery going
// through a real Webhook on loopback, signed and gzip-encoded, under each
// signature scheme.
func TestRouteLoggerSuiteOverHTTP(t *testing.T) {
	for _, sg := range signers {
		t.Run(sg.scheme.String(), func(t *testing.T) { routeLoggerSuiteOverHTTP(t, sg) })
	}
}

func routeLoggerSuiteOverHTTP(t *testing.T, sg signer) {
	secret := []byte("suite-secret")
	waitertest.Run(t, func(t *testing.T) waitertest.Setup {
		rl := webhook.NewRouteLogger(webhook.JSONField(waitertest.KeyField))
		srv := httptest.NewServer(webhook.New(webhook.Config{Logger: rl, Secret: secret, Scheme: sg.scheme}))
		t.Cleanup(srv.Close)
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		client := &http.Client{Transport: tr}
		t.Cleanup(tr.CloseIdleConnections)
		return waitertest.Setup{Waiter: rl, Deliver: func(r webhook.Request) {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write([]byte(r.Body))
			zw.Close()
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhook", bytes.NewReader(zb.Bytes()))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Encoding", "gzip")
			sg.sign(req, secret, zb.Bytes())
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("deliver: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("deliver: status %d", resp.StatusCode)
			}
		}}
	})
}
