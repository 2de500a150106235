package webhook

import (
	"net/textproto"
	"strconv"
	"strings"
)

// Header returns a key function that reads the first value of the named
// header. A missing header gives the empty key, which matches nothing.
func Header(name string) func(Request) string {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	return func(r Request) string {
		if v := r.Header[canon]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// JSONField returns a key function that reads a field of a JSON object body,
// such as JSONField("messageId"). A dotted name descends into nested
// objects: JSONField("properties.id") reads {"properties":{"id":"..."}}.
//
// The body is scanned, not unmarshalled: the scan stops at the field, skips
// other values without allocating, and a string value without escapes is
// returned as a substring of the body. A string value is returned unquoted;
// a number or boolean is returned as its literal text; null, objects,
// arrays, a missing field and a body that is not a JSON object give the
// empty key, which matches nothing. If a field occurs more than once, the
// first occurrence counts.
func JSONField(name string) func(Request) string {
	path := strings.Split(name, ".")
	return func(r Request) string {
		return jsonLookup(r.Body, path)
	}
}

// jsonLookup finds path in the JSON object s.
func jsonLookup(s string, path []string) string {
	i := skipSpace(s, 0)
	for depth, want := range path {
		if i >= len(s) || s[i] != '{' {
			return ""
		}
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == '}' {
			return ""
		}
		for {
			if i >= len(s) || s[i] != '"' {
				return ""
			}
			kEnd, esc := scanString(s, i)
			if kEnd < 0 {
				return ""
			}
			match := false
			if esc {
				k, ok := unquoteJSON(s[i:kEnd])
				match = ok && k == want
			} else {
				match = s[i+1:kEnd-1] == want
			}
			i = skipSpace(s, kEnd)
			if i >= len(s) || s[i] != ':' {
				return ""
			}
			i = skipSpace(s, i+1)
			if match {
				if depth < len(path)-1 {
					break // descend into the value at i
				}
				return scalar(s, i)
			}
			i = skipValue(s, i)
			if i < 0 {
				return ""
			}
			i = skipSpace(s, i)
			if i >= len(s) {
				return ""
			}
			if s[i] == '}' {
				return ""
			}
			if s[i] != ',' {
				return ""
			}
			i = skipSpace(s, i+1)
		}
	}
	return ""
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index just past the closing quote of the string
// starting at s[i] == '"', and whether it holds escapes; -1 if unterminated.
func scanString(s string, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return -1, esc
}

// skipValue returns the index just past the JSON value starting at s[i];
// -1 if it is malformed or unterminated.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		j, _ := scanString(s, i)
		return j
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				k, _ := scanString(s, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(s) {
			c := s[j]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// scalar returns the key text of the value at s[i].
func scalar(s string, i int) string {
	if i >= len(s) {
		return ""
	}
	switch s[i] {
	case '"':
		j, esc := scanString(s, i)
		if j < 0 {
			return ""
		}
		if !esc {
			return s[i+1 : j-1]
		}
		v, _ := unquoteJSON(s[i:j])
		return v
	case '{', '[':
		return ""
	default:
		j := skipValue(s, i)
		if j < 0 {
			return ""
		}
		if lit := s[i:j]; lit != "null" {
			return lit
		}
		return ""
	}
}

// unquoteJSON unquotes a JSON string literal (with quotes); JSON escapes
// differ from Go's (\/ and surrogate pairs), so it is done by hand.
func unquoteJSON(q string) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	q = q[1 : len(q)-1]
	var b strings.Builder
	b.Grow(len(q))
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(q) {
			return "", false
		}
		switch q[i] {
		case '"', '\\', '/':
			b.WriteByte(q[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+5 > len(q) {
				return "", false
			}
			r, err := strconv.ParseUint(q[i+1:i+5], 16, 32)
			if err != nil {
				return "", false
			}
			i += 4
			if 0xD800 <= r && r < 0xDC00 && i+7 <= len(q) && q[i+1] == '\\' && q[i+2] == 'u' {
				if r2, err := strconv.ParseUint(q[i+3:i+7], 16, 32); err == nil && 0xDC00 <= r2 && r2 < 0xE000 {
					b.WriteRune(rune((r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000))
					i += 6
					continue
				}
			}
			b.WriteRune(rune(r))
		default:
			return "", false
		}
	}
	return b.String(), true
}
