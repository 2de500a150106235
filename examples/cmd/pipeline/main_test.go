package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/testsupport"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*options) bool
		wantErr string
	}{
		{"defaults", []string{"--write-key", "k"}, nil, func(o *options) bool {
			return o.addr == ":8081" && o.signature == "standard-webhooks" && o.topic == "events" && o.dlqTopic == "events-dead-letter" && o.partitions == 3 && o.replication == 1
		}, ""},
		{"repeatable flags", []string{"--write-key", "a", "--write-key", "b,c", "--destination", "http://x/1", "--destination", "http://x/2"}, nil, func(o *options) bool {
			return slices.Equal(o.writeKeys, []string{"a", "b", "c"}) && len(o.destinations) == 2
		}, ""},
		{"environment", nil, map[string]string{"PIPELINE_WRITE_KEY": "a,b", "PIPELINE_ADDR": ":9", "PIPELINE_FAULTS": "drop=1", "PIPELINE_KAFKA_BROKERS": "k:9092"}, func(o *options) bool {
			return len(o.writeKeys) == 2 && o.addr == ":9" && o.faults == "drop=1" && o.brokers == "k:9092"
		}, ""},
		{"flag wins over environment", []string{"--addr", ":7", "--write-key", "k"}, map[string]string{"PIPELINE_ADDR": ":9", "PIPELINE_WRITE_KEY": "e"}, func(o *options) bool {
			return o.addr == ":7" && slices.Equal(o.writeKeys, []string{"k"})
		}, ""},
		{"write key required", nil, nil, nil, "--write-key"},
		{"bad environment value", []string{"--write-key", "k"}, map[string]string{"PIPELINE_PARTITIONS": "many"}, nil, "PIPELINE_PARTITIONS"},
		{"stray argument", []string{"--write-key", "k", "extra"}, nil, nil, "unexpected"},
		{"unknown signature scheme", []string{"--write-key", "k", "--signature", "v0"}, nil, nil, "--signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("parseFlags = %+v, %v", o, err)
			}
		})
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"--write-key", "k", "--admin-token", "tok-123", "--destination-secret", "sec-456", "--faults", "bogus"}, func(string) string { return "" }, &out)
	if code != 2 {
		t.Errorf("exit code %d, want 2 for a bad --faults", code)
	}
	if s := out.String(); strings.Contains(s, "tok-123") || strings.Contains(s, "sec-456") {
		t.Errorf("output shows a secret: %s", s)
	}
}

// TestRunWithEmbeddedKafka runs the binary's run function with no Kafka
// configured, delivers an event to a webhook, reads /metrics, and drains on
// cancellation (what SIGTERM does) with exit code 0.
func TestRunWithEmbeddedKafka(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	arrived := make(chan struct{}, 1)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get("X-Signature")), []byte(pipeline.Sign([]byte("s3cret"), b))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
	}))
	defer dest.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--addr", "127.0.0.1:0", "--write-key", "k", "--destination", dest.URL + "/webhook", "--destination-secret", "s3cret", "--signature", "x-signature"},
			func(string) string { return "" }, logs)
	}()

	// The log names the address it listens on.
	var addr string
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	for addr == "" {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case <-logs.Wrote():
		case code := <-exit:
			t.Fatalf("run exited with %d; logs:\n%s", code, logs.String())
		case <-time.After(20 * time.Second):
			t.Fatalf("no listening line in the log:\n%s", logs.String())
		}
	}
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready; logs:\n%s", logs.String())
		}
		select {
		case code := <-exit:
			t.Fatalf("run exited with %d; logs:\n%s", code, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(logs.String(), "embedded") {
		t.Errorf("the log does not say an embedded broker started:\n%s", logs.String())
	}

	req, _ := http.NewRequest(http.MethodPost, base+"/v1/track", strings.NewReader(`{"messageId":"cmd-1","event":"e","userId":"u"}`))
	req.SetBasicAuth("k", "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("track: %d", resp.StatusCode)
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("event never delivered")
	}
	mu.Lock()
	var ev map[string]any
	_ = json.Unmarshal(got[0], &ev)
	mu.Unlock()
	if ev["messageId"] != "cmd-1" || ev["processed"] != true {
		t.Errorf("delivered %v", ev)
	}

	// The worker counts a delivery once the destination answered, just after the destination
	// saw it: poll /metrics until every counter is there.
	names := []string{"pipeline_ingested_total", "pipeline_produced_total", "pipeline_consumed_total", "pipeline_delivered_total", "pipeline_delivery_latency_seconds_bucket"}
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var missing []string
		for _, name := range names {
			if !bytes.Contains(metrics, []byte(name)) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %v:\n%s", missing, metrics)
		}
		time.Sleep(20 * time.Millisecond) // polling an external signal with a deadline
	}

	cancel() // as SIGTERM does
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d after drain; logs:\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}

type syncBuffer = testsupport.SyncBuffer
