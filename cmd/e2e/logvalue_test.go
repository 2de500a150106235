package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/internal/e2e"
)

// The configuration line serve and gate log must not carry credentials embedded in the
// URLs given as --api or --webhook-url.
func TestConfigLogLineRedactsURLCredentials(t *testing.T) {
	tests := []struct {
		name, api, webhookURL string
		secrets               []string
		want                  []string
	}{
		{"user info", "https://bob:pw-secret-1@api.example.com/", "https://u:pw-secret-2@hooks.example.com/webhook", []string{"pw-secret-1", "pw-secret-2", "bob"}, []string{"https://api.example.com/", "https://hooks.example.com/webhook"}},
		{"query token", "https://api.example.com?key=tok-secret-1", "https://hooks.example.com/webhook?token=tok-secret-2#frag-secret", []string{"tok-secret-1", "tok-secret-2", "frag-secret"}, []string{"https://api.example.com", "https://hooks.example.com/webhook"}},
		{"embedded", "", "", nil, []string{`"target":"embedded"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &options{cfg: e2e.Config{API: tt.api, WebhookURL: tt.webhookURL, WriteKey: "wk-secret", AdminToken: "adm-secret", WebhookSecret: "whs-secret"}}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("serving", "config", o)
			out := buf.String()
			for _, s := range append(tt.secrets, "wk-secret", "adm-secret", "whs-secret") {
				if strings.Contains(out, s) {
					t.Errorf("log line contains %q:\n%s", s, out)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("log line lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
