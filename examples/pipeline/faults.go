package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Faults make the pipeline misbehave on purpose, so that an end-to-end tester
// can prove it catches failures. Probabilities are in [0, 1]: 0 never, 1
// always. The zero value injects nothing. Faults is a value; a Pipeline reads
// its current Faults atomically, so SetFaults is safe at any time.
type Faults struct {
	// Drop is the probability that the worker loses an event after ingest:
	// the event was acknowledged and written to Kafka, but it is never
	// delivered (its offset is committed as if it had been).
	Drop float64

	// Dup is the probability that an event is delivered twice to each
	// destination (the same body and messageId, one POST after the other).
	Dup float64

	// Corrupt is the probability that a delivered event is altered: its
	// "event" field (the "name" field for page calls that have one) gets the
	// suffix " (corrupted)", and "properties.corrupted" is set to true. The
	// messageId is kept so the receiver can still match it, and the signature
	// is computed over the altered body, as a buggy pipeline stage would.
	Corrupt float64

	// Dest5xx is the probability that a delivery attempt fails as if the
	// destination had answered 503, without the request being sent, so the
	// retry policy kicks in. At 1 every event is dead-lettered.
	Dest5xx float64

	// Delay holds every delivery for this long before its first attempt.
	Delay time.Duration

	// Lose is the probability that the tracking API loses an event before
	// Kafka: the request is answered 200 {"success":true} as usual, but the
	// event is never written to the topic. In a batch each event is lost
	// independently.
	Lose float64
}

// fault names, as used in specs and in the faults_injected_total{fault} tag.
const (
	faultDrop    = "drop"
	faultDup     = "dup"
	faultDelay   = "delay"
	faultCorrupt = "corrupt"
	faultDest5xx = "dest5xx"
	faultLose    = "lose"
)

// faultKeys lists the spec keys, for error messages.
const faultKeys = "drop, dup, delay, corrupt, dest5xx, lose"

// ParseFaults parses a fault spec such as
// "drop=0.1,dup=0.05,delay=200ms,corrupt=0.01,dest5xx=0.2,lose=0.1". Every key is
// optional and may appear once; probabilities are decimal numbers in [0, 1],
// delay is a Go duration (time.ParseDuration) and not negative. Spaces around
// items are ignored; "" and "none" mean no faults. String formats Faults back
// into a spec that ParseFaults parses to the same value.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return f, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		key, val, ok := strings.Cut(item, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || key == "" || val == "" {
			return Faults{}, fmt.Errorf("fault spec %q: item %q is not key=value (keys: %s)", spec, item, faultKeys)
		}
		if seen[key] {
			return Faults{}, fmt.Errorf("fault spec %q: %s given twice", spec, key)
		}
		seen[key] = true
		var p *float64
		switch key {
		case faultDrop:
			p = &f.Drop
		case faultDup:
			p = &f.Dup
		case faultCorrupt:
			p = &f.Corrupt
		case faultDest5xx:
			p = &f.Dest5xx
		case faultLose:
			p = &f.Lose
		case faultDelay:
			d, err := time.ParseDuration(val)
			if err != nil {
				return Faults{}, fmt.Errorf("fault spec %q: delay %q is not a duration such as 200ms: %w", spec, val, err)
			}
			f.Delay = d
			continue
		default:
			return Faults{}, fmt.Errorf("fault spec %q: unknown fault %q (known: %s)", spec, key, faultKeys)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return Faults{}, fmt.Errorf("fault spec %q: %s=%q is not a probability between 0 and 1: %w", spec, key, val, err)
		}
		*p = v
	}
	if err := f.validate(); err != nil {
		return Faults{}, fmt.Errorf("fault spec %q: %w", spec, err)
	}
	return f, nil
}

// validate reports out-of-range values.
func (f Faults) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{faultDrop, f.Drop}, {faultDup, f.Dup}, {faultCorrupt, f.Corrupt}, {faultDest5xx, f.Dest5xx}, {faultLose, f.Lose}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("%s=%v is not a probability between 0 and 1", p.name, p.v)
		}
	}
	if f.Delay < 0 {
		return fmt.Errorf("delay=%v is negative", f.Delay)
	}
	return nil
}

// String returns the spec of f in ParseFaults syntax, listing only the faults
// that are on, in the order drop, dup, delay, corrupt, dest5xx, lose. No faults
// format as "".
func (f Faults) String() string {
	var parts []string
	add := func(name string, v float64) {
		if v != 0 {
			parts = append(parts, name+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	add(faultDrop, f.Drop)
	add(faultDup, f.Dup)
	if f.Delay != 0 {
		parts = append(parts, faultDelay+"="+f.Delay.String())
	}
	add(faultCorrupt, f.Corrupt)
	add(faultDest5xx, f.Dest5xx)
	add(faultLose, f.Lose)
	return strings.Join(parts, ",")
}

// IsZero reports whether f injects nothing.
func (f Faults) IsZero() bool { return f == Faults{} }

// faultsJSON is the JSON form of Faults, used by /admin/faults.
type faultsJSON struct {
	Spec    string  `json:"spec"`
	Drop    float64 `json:"drop"`
	Dup     float64 `json:"dup"`
	Delay   string  `json:"delay"`
	Corrupt float64 `json:"corrupt"`
	Dest5xx float64 `json:"dest5xx"`
	Lose    float64 `json:"lose"`
}

// MarshalJSON encodes f as
// {"spec":"drop=0.1,delay=200ms","drop":0.1,"dup":0,"delay":"200ms","corrupt":0,"dest5xx":0,"lose":0}.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Spec: f.String(), Drop: f.Drop, Dup: f.Dup, Delay: f.Delay.String(),
		Corrupt: f.Corrupt, Dest5xx: f.Dest5xx, Lose: f.Lose,
	})
}

// UnmarshalJSON accepts either a JSON string holding a spec
// ("drop=0.1,delay=200ms") or an object with any of the fields drop, dup,
// corrupt, dest5xx, lose (numbers) and delay (a duration string such as "200ms"),
// or a "spec" field. Absent fields are zero. With "spec" present, other
// fields must agree with it, so MarshalJSON's output reads back unchanged.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var spec string
	if err := json.Unmarshal(b, &spec); err == nil {
		g, err := ParseFaults(spec)
		if err != nil {
			return err
		}
		*f = g
		return nil
	}
	var raw struct {
		Spec    *string  `json:"spec"`
		Drop    *float64 `json:"drop"`
		Dup     *float64 `json:"dup"`
		Delay   *string  `json:"delay"`
		Corrupt *float64 `json:"corrupt"`
		Dest5xx *float64 `json:"dest5xx"`
		Lose    *float64 `json:"lose"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("faults: want a spec string or an object with %s: %w", faultKeys, err)
	}
	var g Faults
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&g.Drop, raw.Drop)
	set(&g.Dup, raw.Dup)
	set(&g.Corrupt, raw.Corrupt)
	set(&g.Dest5xx, raw.Dest5xx)
	set(&g.Lose, raw.Lose)
	if raw.Delay != nil && *raw.Delay != "" {
		d, err := time.ParseDuration(*raw.Delay)
		if err != nil {
			return fmt.Errorf("faults: delay %q is not a duration such as 200ms: %w", *raw.Delay, err)
		}
		g.Delay = d
	}
	if raw.Spec != nil {
		s, err := ParseFaults(*raw.Spec)
		if err != nil {
			return err
		}
		fields := raw.Drop != nil || raw.Dup != nil || raw.Delay != nil || raw.Corrupt != nil || raw.Dest5xx != nil || raw.Lose != nil
		if fields && s != g {
			return fmt.Errorf("faults: spec %q disagrees with the other fields (%q)", *raw.Spec, g.String())
		}
		*f = s
		return nil
	}
	if err := g.validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	*f = g
	return nil
}

// hit reports whether an event with probability p is affected this time.
func hit(p float64) bool {
	return p > 0 && rand.Float64() < p
}
