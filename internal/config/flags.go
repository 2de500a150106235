package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// DurationMap maps case names to durations. As a flag.Value it is repeatable and also takes
// comma-separated lists, so "--case-period track=30s --case-period batch=1m" and the
// environment variable form "track=30s,batch=1m" mean the same. A nil DurationMap reads as
// empty; Set needs a non-nil one (flag.Var(&m, ...) on a DurationMap made with make or {}).
type DurationMap map[string]time.Duration

// String lists the pairs sorted by name, comma-separated.
func (m DurationMap) String() string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k].String())
	}
	return strings.Join(parts, ",")
}

// Set adds one or more comma-separated name=duration pairs.
func (m DurationMap) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("%w: %q is not name=duration (e.g. track=30s)", ErrInvalid, item)
		}
		d, err := parseDuration(val)
		if err != nil {
			return fmt.Errorf("case %s: %w", name, err)
		}
		if _, dup := m[name]; dup {
			return fmt.Errorf("%w: case %s given twice", ErrInvalid, name)
		}
		m[name] = d
	}
	return nil
}

// NameList is a list of case names. As a flag.Value it is repeatable and also takes
// comma-separated lists ("--disable browser --disable kafka" or "browser,kafka").
type NameList []string

// String lists the names comma-separated.
func (l *NameList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// Set adds one or more comma-separated names.
func (l *NameList) Set(s string) error {
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*l = append(*l, n)
		}
	}
	return nil
}
