package orbital

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/stats/v4"
)

// TestFunc is an end-to-end test. It must return when ctx is done; a test
// that does not is abandoned and reported as timed out.
type TestFunc func(ctx context.Context, o *O)

// TestCase is a registered end-to-end test. It is a plain value: Register
// copies it, so changing it afterwards has no effect.
type TestCase struct {
	Name    string        // unique; letters, digits, '_', '-', '.', '/' only (metric-safe)
	Period  time.Duration // how often it runs; > 0
	Timeout time.Duration // 0 means the service default
	Func    TestFunc
	Tags    []stats.Tag // added to every metric of this case
}

// ErrInvalidCase is wrapped by the errors [Service.Register] returns for a
// test case it refuses.
var ErrInvalidCase = errors.New("invalid test case")

// validName reports whether name is non-empty and uses only letters, digits,
// '_', '-', '.' and '/'.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}

func (tc TestCase) validate() error {
	switch {
	case tc.Name == "":
		return fmt.Errorf("orbital: register: empty name: %w", ErrInvalidCase)
	case !validName(tc.Name):
		return fmt.Errorf("orbital: register %q: name may hold only letters, digits, '_', '-', '.' and '/': %w", tc.Name, ErrInvalidCase)
	case tc.Period <= 0:
		return fmt.Errorf("orbital: register %q: period %s must be > 0: %w", tc.Name, tc.Period, ErrInvalidCase)
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
// with spaces: every rune that is not allowed in a case name becomes '_'.
func subtestName(name string) string {
	if name == "" {
		return "_"
	}
	b := []byte(name)
	changed := false
	for i, c := range b {
		if !validName(string(c)) {
			b[i] = '_'
			changed = true
		}
	}
	if !changed {
		return name
	}
	return string(b)
}
