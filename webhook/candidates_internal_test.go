package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
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
		checkAsFields(t, b.String())
	}
}

// checkAsFields fails t unless parseCandidates(sig) keeps what splitting sig
// with strings.Fields and decoding each "v1," entry keeps.
func checkAsFields(t *testing.T, sig string) {
	t.Helper()
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

// TestParseCandidatesEveryByte: every byte value, alone (an invalid UTF-8
// byte from 0x80 up) or after a lead byte, and every Unicode space, between,
// before, after and inside entries and around the maxCandidates'th field,
// splits as strings.Fields does.
func TestParseCandidatesEveryByte(t *testing.T) {
	good := "v1," + base64.StdEncoding.EncodeToString(make([]byte, sha256.Size))
	other := "v1," + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("z", sha256.Size)))
	var seps []string
	for c := range 256 {
		seps = append(seps, string([]byte{byte(c)}), string([]byte{0xc2, byte(c)}), string([]byte{0xe2, 0x80, byte(c)}))
	}
	for r := rune(0); r <= 0x3000; r++ {
		if unicode.IsSpace(r) {
			seps = append(seps, string(r))
		}
	}
	many := strings.Repeat(good+" ", maxCandidates-1)
	for _, x := range seps {
		for _, sig := range []string{
			good + x + other, x + good, good + x, good + " " + x + other, other + x + " " + good,
			many + other + x + good, many + x + other, many + other + " " + x + good,
		} {
			checkAsFields(t, sig)
		}
	}
}
