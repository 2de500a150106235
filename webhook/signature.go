package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Sign returns the signature a sender puts in the signature header for body
// (the bytes as sent) and secret: the lowercase hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// validSignature reports whether header holds the lowercase hex HMAC-SHA256
// of body under secret, optionally prefixed with "sha256=". The comparison
// of the MACs is constant-time.
func validSignature(secret []byte, header string, body []byte) bool {
	header = strings.TrimPrefix(header, "sha256=")
	if len(header) != 2*sha256.Size {
		return false
	}
	var got [sha256.Size]byte
	for i := 0; i < len(header); i++ {
		c := header[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false // lowercase hex only
		}
	}
	if _, err := hex.Decode(got[:], []byte(header)); err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got[:], m.Sum(nil))
}
