// Package redact keeps secrets out of what orbital prints: URLs without
// their credentials, and messages without configured secret values.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Unparseable is what URL returns for a value that does not parse as a URL.
const Unparseable = "<redacted>"

// URL returns u without the credentials a URL may carry: user info, query
// and fragment (a token in ?key=... is as secret as a password). A value
// that does not parse, and could hold anything, is Unparseable; "" stays "".
func URL(u string) string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return Unparseable
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// Secrets replaces secret values in text by a marker. It replaces whole
// occurrences in one pass, longest secret first, so a marker is never
// rewritten by a later replacement and a secret that contains another is
// removed whole. Two secrets that only overlap (abcd and cdef in "abcdef")
// leave the part of the second that the first did not cover. Each secret is also matched in its URL-encoded forms. The
// zero value and a nil *Secrets replace nothing. It is safe for concurrent
// use once built.
type Secrets struct {
	r *strings.Replacer
}

// NewSecrets returns a Secrets that replaces each non-empty value of
// secrets (name → value) by "<name>".
func NewSecrets(secrets map[string]string) *Secrets {
	type pair struct{ old, new string }
	var pairs []pair
	seen := map[string]bool{}
	for name, v := range secrets {
		if v == "" {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if !seen[form] {
				seen[form] = true
				pairs = append(pairs, pair{form, "<" + name + ">"})
			}
		}
	}
	if len(pairs) == 0 {
		return &Secrets{}
	}
	// strings.Replacer tries its old strings in argument order at each
	// position: longest first, so a secret that contains another is removed
	// whole.
	slices.SortFunc(pairs, func(a, b pair) int {
		if d := len(b.old) - len(a.old); d != 0 {
			return d
		}
		return strings.Compare(a.old, b.old)
	})
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.old, p.new)
	}
	return &Secrets{r: strings.NewReplacer(args...)}
}

// Replace returns s with every secret replaced.
func (s *Secrets) Replace(text string) string {
	if s == nil || s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// urlInText finds what looks like an absolute URL in free text: a scheme, "://", and
// everything up to white space, a double quote or an angle bracket (a password may hold
// parentheses, brackets and single quotes).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"<>]+`)

// URLsIn returns text with every URL in it passed through URL, so free text written by
// someone else (a dead-letter record's error header, an error message) shows no URL
// credentials: "POST https://u:p@host/hook?token=t: EOF" becomes "POST https://host/hook: EOF".
func URLsIn(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlInText.ReplaceAllStringFunc(text, func(u string) string {
		trimmed := strings.TrimRight(u, ".,:;!?)]}'") // punctuation after a URL is the sentence's
		return URL(trimmed) + u[len(trimmed):]
	})
}
