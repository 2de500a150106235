package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestParseCandidatesAsFields: the candidates kept from a webhook-signature
// are those of its first maxCandidates fields as strings.Fields splits it,
// whatever the whitespace (ASCII or not) and however many entries.
func TestParseCandidatesAsFields(t *testing.T) {
	mac := func(b byte) string {
		return "v1," + base64.StdEncoding.EncodeToString(make([]byte, sha256.Size-1)) + string("ABCD"[b%4])
	}
	good := []string{mac(0), mac(1), mac(2)}
	pieces := []string{"v1a,xyz", "v1,short", "v2," + good[0][3:], "", "v1,", good[0], good[1], good[2]}
	spaces := []string{" ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\u0085", "\u00a0", "\u2003"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(24) {
			b.WriteString(spaces[rng.IntN(len(spaces))])
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if rng.IntN(2) == 0 {
			b.WriteString(spaces[rng.IntN(len(spaces))])
		}
		sig := b.String()
		var want signed
		for i, part := range strings.Fields(sig) {
			if i == maxCandidates {
				break
			}
			if b64, ok := strings.CutPrefix(part, "v1,"); ok {
				if d, err := base64.StdEncoding.DecodeString(b64); err == nil && len(d) == sha256.Size {
					copy(want.macs[want.n][:], d)
					want.n++
				}
			}
		}
		var got signed
		got.parseCandidates(sig)
		if got.n != want.n || got.macs != want.macs {
			t.Fatalf("parseCandidates(%q): %d candidates, want %d (or other bytes)", sig, got.n, want.n)
		}
	}
}
