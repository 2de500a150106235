package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/webhook"
)

// sigScheme is one signature scheme the Webhook accepts. To cover a new
// scheme, add one row to sigSchemes: the Config that enables it and a sign
// function that returns a correctly signed delivery's headers and says where
// in them the MAC is.
type sigScheme struct {
	name string
	cfg  webhook.Config
	sign func(body []byte) signed
}

// signed is a correctly signed delivery's headers: header MACHeader holds
// Prefix followed by the MAC written in Enc.
type signed struct {
	Header    http.Header
	MACHeader string
	Prefix    string
	Enc       macEncoding
}

// macEncoding is how a MAC is written in its header, so a near miss stays
// in the same alphabet (and so passes every format check).
type macEncoding int

const (
	lowerHex  macEncoding = iota // 0-9a-f
	base64Std                    // A-Za-z0-9+/, = padding
)

var sigSecret = []byte("near-miss-secret")

var sigSchemes = []sigScheme{
	{
		name: "Standard Webhooks",
		cfg:  webhook.Config{Secret: sigSecret, Scheme: webhook.SchemeStandardWebhooks},
		sign: func(body []byte) signed {
			const id = "msg_nearmiss"
			now := time.Now()
			return signed{http.Header{
				"Webhook-Id":        {id},
				"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
				"Webhook-Signature": {webhook.SignStandard(sigSecret, id, now, body)},
			}, "Webhook-Signature", "v1,", base64Std}
		},
	},
	{
		name: "X-Signature hex",
		cfg:  webhook.Config{Secret: sigSecret, Scheme: webhook.SchemeXSignature},
		sign: func(body []byte) signed {
			return signed{http.Header{"X-Signature": {webhook.Sign(sigSecret, body)}}, "X-Signature", "", lowerHex}
		},
	},
	{
		name: "X-Signature sha256= prefix",
		cfg:  webhook.Config{Secret: sigSecret, Scheme: webhook.SchemeXSignature},
		sign: func(body []byte) signed {
			return signed{http.Header{"X-Signature": {"sha256=" + webhook.Sign(sigSecret, body)}}, "X-Signature", "sha256=", lowerHex}
		},
	},
	{
		name: "X-Signature in a custom header",
		cfg:  webhook.Config{Secret: sigSecret, Scheme: webhook.SchemeXSignature, SignatureHeader: "X-Hub-Signature-256"},
		sign: func(body []byte) signed {
			return signed{http.Header{"X-Hub-Signature-256": {"sha256=" + webhook.Sign(sigSecret, body)}}, "X-Hub-Signature-256", "sha256=", lowerHex}
		},
	},
}

// alterAt returns mac with its character at pos replaced by another
// character of the same alphabet that changes the decoded MAC.
func alterAt(t *testing.T, mac string, enc macEncoding, pos int) string {
	t.Helper()
	b := []byte(mac)
	switch enc {
	case lowerHex:
		if b[pos] == '0' {
			b[pos] = '1'
		} else {
			b[pos] = '0'
		}
	case base64Std:
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		v := strings.IndexByte(alphabet, b[pos])
		if v < 0 {
			t.Fatalf("%q is not base64 at %d", mac, pos)
		}
		// Flip the highest of the six bits: the last character of a padded
		// encoding carries data only in its high bits.
		b[pos] = alphabet[v^0b100000]
	}
	return string(b)
}

// TestSignatureNearMiss sends, for every scheme, a correct signature with
// exactly one MAC character changed: the last (a check comparing only a
// prefix of the MAC lets it through), the second to last, the first and one
// in the middle. The altered signature keeps its length and alphabet, so
// only the MAC comparison can reject it. The untouched signature must pass,
// so the test cannot succeed by rejecting everything.
func TestSignatureNearMiss(t *testing.T) {
	body := []byte(`{"messageId":"near-miss","event":"e"}`)
	for _, sc := range sigSchemes {
		t.Run(sc.name, func(t *testing.T) {
			send := func(h http.Header) int {
				t.Helper()
				rec := &recorder{}
				cfg := sc.cfg
				cfg.Logger = rec
				req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
				for k, vs := range h {
					req.Header[k] = vs
				}
				rw := httptest.NewRecorder()
				webhook.New(cfg).ServeHTTP(rw, req)
				if rw.Code != http.StatusOK && len(rec.all()) != 0 {
					t.Errorf("status %d but the delivery was recorded", rw.Code)
				}
				return rw.Code
			}
			s := sc.sign(body)
			if code := send(s.Header); code != http.StatusOK {
				t.Fatalf("correct signature: status %d, want 200", code)
			}
			value := s.Header.Get(s.MACHeader)
			mac, ok := strings.CutPrefix(value, s.Prefix)
			if !ok {
				t.Fatalf("header %s = %q does not start with %q", s.MACHeader, value, s.Prefix)
			}
			last := len(mac) - 1
			if s.Enc == base64Std {
				last = len(strings.TrimRight(mac, "=")) - 1 // padding is not MAC
			}
			for _, m := range []struct {
				name string
				pos  int
			}{
				{"last character", last},
				{"second to last character", last - 1},
				{"middle character", last / 2},
				{"first character", 0},
			} {
				bad := s.Prefix + alterAt(t, mac, s.Enc, m.pos)
				if bad == value || len(bad) != len(value) {
					t.Fatalf("%s: near miss %q is not a one-character change of %q", m.name, bad, value)
				}
				h := s.Header.Clone()
				h.Set(s.MACHeader, bad)
				if code := send(h); code != http.StatusUnauthorized {
					t.Errorf("%s changed (%q): status %d, want 401", m.name, bad, code)
				}
			}
		})
	}
}
