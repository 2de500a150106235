package redact_test

import (
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/internal/redact"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "",
		"https://api.example.com/v1":         "https://api.example.com/v1",
		"https://user:pass@api.example.com/": "https://api.example.com/",
		"http://h/?api_key=SECRET#frag":      "http://h/",
		"http://u:p@host:notaport":           redact.Unparseable,
		"http://h/?":                         "http://h/",
	} {
		got := redact.URL(in)
		if got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
		for _, secret := range []string{"pass", "SECRET", "frag", ":p@"} {
			if strings.Contains(got, secret) {
				t.Errorf("URL(%q) = %q still holds %q", in, got, secret)
			}
		}
	}
}

func TestSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets map[string]string
		in      string
		want    string
	}{
		{"plain", map[string]string{"write-key": "k3y"}, "key k3y here", "key <write-key> here"},
		// A short key that occurs in its own marker must not rewrite it.
		{"key inside its marker", map[string]string{"write-key": "w"}, "w and w", "<write-key> and <write-key>"},
		{"key inside the marker text", map[string]string{"write-key": "key"}, "key=key", "<write-key>=<write-key>"},
		{"url-encoded", map[string]string{"secret": "a b/c"}, "q=a+b%2Fc p=a%20b%2Fc raw a b/c", "q=<secret> p=<secret> raw <secret>"},
		{"overlapping: longest first", map[string]string{"a": "abc", "b": "abcdef"}, "xabcdefx abc", "x<b>x <a>"},
		{"empty secret ignored", map[string]string{"a": ""}, "text", "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.NewSecrets(tt.secrets).Replace(tt.in); got != tt.want {
				t.Errorf("Replace(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	var nilSecrets *redact.Secrets
	if got := nilSecrets.Replace("x"); got != "x" {
		t.Errorf("nil Secrets changed the text: %q", got)
	}
}

func TestURLsIn(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"destination answered 503", "destination answered 503"},
		{"POST https://u:pa55@hooks.example/in?token=t0k#f: EOF", "POST https://hooks.example/in: EOF"},
		{"see https://x.example/a?k=v.", "see https://x.example/a."},
		{"POST https://user:pa(ss)w0rd@hooks.example/in: 503", "POST https://hooks.example/in: 503"},
		{"(at https://u:it's[{x}]@h.example/p?t=1)", "(at <redacted>)"}, // url.Parse refuses that user info: all of it goes
		{`error "http://a:b@x/y" and ftp://c:d@z/`, `error "http://x/y" and ftp://z/`},
		{"no scheme u:p@host", "no scheme u:p@host"},
	} {
		if got := redact.URLsIn(tc.in); got != tc.want {
			t.Errorf("URLsIn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
