// Package config holds the e2e binary's per-case overrides: the period, timeout and
// enable/disable of registered test cases, read from flags and from an optional JSON or YAML
// file, and applied to the cases before they are registered, so that a deployment changes a
// schedule without a rebuild.
//
// The file has this shape (JSON; YAML with the same keys when the name ends in .yaml or .yml):
//
//	{"cases": {"track": {"period": "30s", "timeout": "20s", "enabled": true},
//	           "browser": {"enabled": false}}}
//
// Flags win over the file: see Overrides.Merge.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"gopkg.in/yaml.v3"
)

// MaxFileBytes is the largest override file Load reads.
const MaxFileBytes = 1 << 20

// ErrInvalid is wrapped by every error about invalid override input.
var ErrInvalid = errors.New("invalid case override")

// Duration is a time.Duration read from a Go duration string ("30s", "1m30s") in JSON or YAML.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: duration must be a string such as \"30s\": %s", ErrInvalid, b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML accepts a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("%w: duration must be a string such as \"30s\" (line %d)", ErrInvalid, n.Line)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a duration such as 30s or 1m", ErrInvalid, s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%w: duration %q is negative", ErrInvalid, s)
	}
	return v, nil
}

// CaseOverride changes one case. Zero fields leave the case's own value.
type CaseOverride struct {
	Period  Duration `json:"period,omitempty" yaml:"period"`   // > 0 replaces the case's period
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout"` // > 0 replaces the case's timeout
	Enabled *bool    `json:"enabled,omitempty" yaml:"enabled"` // false drops the case, true keeps it
}

// File is the content of an override file.
type File struct {
	Cases map[string]CaseOverride `json:"cases" yaml:"cases"`
}

// Load reads an override file: YAML when path ends in .yaml or .yml, JSON otherwise. Unknown
// keys are an error, so that a misspelt setting is not silently ignored.
func Load(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return File{}, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return File{}, fmt.Errorf("%w: config file %s is larger than %d bytes", ErrInvalid, path, MaxFileBytes)
	}
	var out File
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&out); err != nil && !errors.Is(err, io.EOF) {
			return File{}, fmt.Errorf("%w: config file %s: %w", ErrInvalid, path, err)
		}
	default:
		if err := checkDuplicateKeys(b); err != nil {
			return File{}, fmt.Errorf("%w: config file %s: %w", ErrInvalid, path, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil {
			return File{}, fmt.Errorf("%w: config file %s: %w", ErrInvalid, path, err)
		}
	}
	return out, nil
}

// Overrides are the per-case changes from the file and the flags. The zero value changes
// nothing. Overrides is not safe for concurrent mutation.
type Overrides struct {
	Period  DurationMap     // case name → period
	Timeout DurationMap     // case name → timeout
	Enabled map[string]bool // case name → enabled (false disables)
}

// Merge returns the file's overrides with o's on top: a flag given for a case wins over the
// file's setting for that case.
func (o Overrides) Merge(f File) Overrides {
	out := Overrides{Period: DurationMap{}, Timeout: DurationMap{}, Enabled: map[string]bool{}}
	for name, c := range f.Cases {
		if c.Period > 0 {
			out.Period[name] = time.Duration(c.Period)
		}
		if c.Timeout > 0 {
			out.Timeout[name] = time.Duration(c.Timeout)
		}
		if c.Enabled != nil {
			out.Enabled[name] = *c.Enabled
		}
	}
	for k, v := range o.Period {
		out.Period[k] = v
	}
	for k, v := range o.Timeout {
		out.Timeout[k] = v
	}
	for k, v := range o.Enabled {
		out.Enabled[k] = v
	}
	return out
}

// Names returns every case name o mentions, sorted.
func (o Overrides) Names() []string {
	var names []string
	for k := range o.Period {
		names = append(names, k)
	}
	for k := range o.Timeout {
		names = append(names, k)
	}
	for k := range o.Enabled {
		names = append(names, k)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Check returns an error wrapping ErrInvalid when o names a case that known does not contain
// (a typo would otherwise be ignored silently) or sets a period that is not positive.
func (o Overrides) Check(known []string) error {
	for _, n := range o.Names() {
		if !slices.Contains(known, n) {
			return fmt.Errorf("%w: unknown case %q (cases: %s)", ErrInvalid, n, strings.Join(known, ", "))
		}
	}
	for n, p := range o.Period {
		if p < MinPeriod {
			return fmt.Errorf("%w: period %s of %q is below the floor of %s", ErrInvalid, p, n, MinPeriod)
		}
	}
	return nil
}

// MinPeriod is the shortest period an override may set: a case cannot be made to run in a
// busy loop (1ns wrote millions of log lines a second).
const MinPeriod = 100 * time.Millisecond

// Apply returns cases with o applied: periods and timeouts replaced, disabled cases left out.
// cases itself is not modified.
func (o Overrides) Apply(cases []orbital.TestCase) []orbital.TestCase {
	out := make([]orbital.TestCase, 0, len(cases))
	for _, tc := range cases {
		if on, ok := o.Enabled[tc.Name]; ok && !on {
			continue
		}
		if p, ok := o.Period[tc.Name]; ok && p > 0 {
			tc.Period = p
		}
		if t, ok := o.Timeout[tc.Name]; ok && t > 0 {
			tc.Timeout = t
		}
		out = append(out, tc)
	}
	return out
}

// checkDuplicateKeys returns an error naming the first key given twice in one JSON object
// (encoding/json keeps the last one silently, so an override would be lost unseen).
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // the next string token in an object is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // the decoder reports syntax errors itself
		}
		top := len(stack) - 1
		if k, isString := tok.(string); isString && top >= 0 && stack[top].object && stack[top].expect {
			if stack[top].keys[k] {
				return fmt.Errorf("key %q given twice in one object", k)
			}
			stack[top].keys[k] = true
			stack[top].expect = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, object: true, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if top := len(stack) - 1; top >= 0 && stack[top].object {
			stack[top].expect = true
		}
	}
}
