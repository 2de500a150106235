package orbital

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/stats/v4"
)

// TestFunc is an end-to-end test. It must return when ctx is done; a test
// that does not is abandoned and reported as timed out.
type TestFunc func(ctx context.Context, o *O)

// TestCase is a registered end-to-end test. It is a plain value: Register
// copies it, so changing it afterwards has no effect.
type TestCase struct {
	Name string // unique; see ValidateName
	// Period is how often the scheduler runs the case. 0 means never: a
	// gate-only case, run by RunOnce and RunNow alone.
	Period  time.Duration
	Timeout time.Duration // 0 means the service default
	Func    TestFunc
	Tags    []stats.Tag // added to every metric of this case
}

// ErrInvalidCase is wrapped by the errors [Service.Register] returns for a
// test case it refuses.
var ErrInvalidCase = errors.New("invalid test case")

// ValidateName reports whether name can name a registered case: it is not
// empty and holds only ASCII letters, digits, '_', '-' and '.', so it is safe
// in metric labels, URLs and file names. '/' is not allowed: it separates a
// case from its subtests ("track/batch"). The error wraps ErrInvalidCase.
// [CleanName] turns any string into a valid name.
func ValidateName(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("orbital: %w", err)
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty case name: %w", ErrInvalidCase)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("case name %q may hold only letters, digits, '_', '-' and '.': %w", name, ErrInvalidCase)
		}
	}
	return nil
}

// CleanName turns s into a valid case name (see [ValidateName]) the way go
// test treats spaces in test names: every byte that is not allowed becomes
// '_' (a multi-byte rune becomes one '_'). The empty string becomes "_".
func CleanName(s string) string {
	return cleanName(s, false)
}

// nameByte reports whether c may appear in a case name.
func nameByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c == '_', c == '-', c == '.':
		return true
	}
	return false
}

// cleanName is CleanName; with slash, '/' is kept (subtest names may nest).
func cleanName(s string, slash bool) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) && !(slash && s[i] == '/') {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (nameByte(byte(r)) || (slash && r == '/')):
			b.WriteByte(byte(r))
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (tc TestCase) validate() error {
	if err := checkName(tc.Name); err != nil {
		return fmt.Errorf("orbital: register: %w", err)
	}
	switch {
	case tc.Period < 0:
		return fmt.Errorf("orbital: register %q: period %s must be >= 0: %w", tc.Name, tc.Period, ErrInvalidCase)
	case tc.Timeout < 0:
		return fmt.Errorf("orbital: register %q: timeout %s must be >= 0: %w", tc.Name, tc.Timeout, ErrInvalidCase)
	case tc.Func == nil:
		return fmt.Errorf("orbital: register %q: nil Func: %w", tc.Name, ErrInvalidCase)
	}
	return validateTags(tc.Name, tc.Tags)
}

// validateTags refuses tags that would corrupt the case's metrics: an empty
// name (dropped by stats/v4), a name the service sets itself ("case"
// would replace the case name, "outcome" would give a series two outcome
// labels, which Prometheus rejects for the whole scrape), and a name given
// twice.
func validateTags(caseName string, tags []stats.Tag) error {
	for i, tag := range tags {
		switch tag.Name {
		case "":
			return fmt.Errorf("orbital: register %q: tag %d has an empty name: %w", caseName, i, ErrInvalidCase)
		case "case", "outcome":
			return fmt.Errorf("orbital: register %q: tag name %q is reserved: %w", caseName, tag.Name, ErrInvalidCase)
		}
		for _, prev := range tags[:i] {
			if prev.Name == tag.Name {
				return fmt.Errorf("orbital: register %q: tag %q given twice: %w", caseName, tag.Name, ErrInvalidCase)
			}
		}
	}
	return nil
}

// subtestName turns a subtest name into a metric-safe one, as testing does
// with spaces: every rune that is not allowed in a case name becomes '_';
// '/' is kept, as go test keeps it (t.Run("a/b") nests).
func subtestName(name string) string {
	return cleanName(name, true)
}
