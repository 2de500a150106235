package metrics

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Format rewrites a stats/v4 Prometheus text exposition the way Prometheus expects it from a
// live exporter (the exposition format spec and client_golang's output):
//   - every family gets a "# HELP" line (from help, or a pointer to docs/metrics.md) and a
//     "# TYPE" line ("untyped" when stats/v4 gave none), families sorted by name;
//   - a histogram's series come one label set at a time, its buckets in ascending numeric
//     "le" order ending in "+Inf", then _sum and _count (stats/v4 sorts "le" as strings:
//     "0.5" < "10" < "2.5");
//   - sample timestamps are dropped (see Exposition).
//
// Lines it cannot parse are kept, unchanged, at the end of the family they follow.
func Format(text []byte) []byte {
	types := map[string]string{}
	for line := range bytes.Lines(text) {
		if f := bytes.Fields(line); len(f) == 4 && string(f[0]) == "#" && string(f[1]) == "TYPE" {
			types[string(f[2])] = string(f[3])
		}
	}
	// stats/v4 writes one TYPE line per group of metrics that share a field name, named after
	// the first of them: of "delivery.latency_seconds" and "hop.latency_seconds" only one gets
	// "# TYPE ... histogram", and the other's series would be exposed as untyped families
	// (Prometheus then stores no histogram for it). A family with "_bucket" samples carrying
	// an "le" label is a histogram whatever stats/v4 said.
	for line := range bytes.Lines(text) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, rest, ok := bytes.Cut(line, []byte("{"))
		if !ok || !bytes.Contains(rest, []byte(`le="`)) {
			continue
		}
		if base, ok := bytes.CutSuffix(name, []byte("_bucket")); ok && types[string(base)] == "" {
			types[string(base)] = "histogram"
		}
	}
	fams := map[string]*family{}
	var order []string
	get := func(name string) *family {
		f := fams[name]
		if f == nil {
			typ := types[name]
			if typ == "" {
				typ = "untyped"
			}
			f = &family{name: name, typ: typ}
			fams[name] = f
			order = append(order, name)
		}
		return f
	}
	var last *family
	for line := range bytes.Lines(text) {
		line = bytes.TrimRight(line, "\n")
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue // HELP and TYPE are written again below
		}
		s, ok := parseSample(stripLine(line))
		if !ok {
			if last != nil {
				last.raw = append(last.raw, string(stripLine(line)))
			}
			continue
		}
		last = get(familyOf(s.name, types))
		last.samples = append(last.samples, s)
	}
	slices.Sort(order)
	var out bytes.Buffer
	out.Grow(len(text) + 64*len(order))
	for _, name := range order {
		f := fams[name]
		out.WriteString("# HELP " + name + " " + helpText(name) + "\n")
		out.WriteString("# TYPE " + name + " " + f.typ + "\n")
		if f.typ == "histogram" {
			sortHistogram(f)
		}
		for _, s := range f.samples {
			out.WriteString(s.line + "\n")
		}
		for _, r := range f.raw {
			out.WriteString(r + "\n")
		}
	}
	return out.Bytes()
}

type family struct {
	name, typ string
	samples   []sample
	raw       []string
}

type sample struct {
	line   string // the whole line, without a timestamp
	name   string
	labels string  // the label block without "le", for grouping a histogram's series
	le     float64 // the "le" bound of a bucket; NaN when there is none
}

// familyOf is the family a sample belongs to: a histogram's _bucket, _sum and _count samples
// belong to the histogram.
func familyOf(name string, types map[string]string) string {
	if _, ok := types[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && types[base] == "histogram" {
			return base
		}
	}
	return name
}

// sortHistogram orders f's samples by label set (first seen first), then buckets by numeric
// le, then _sum, then _count.
func sortHistogram(f *family) {
	first := map[string]int{}
	for i, s := range f.samples {
		if _, ok := first[s.labels]; !ok {
			first[s.labels] = i
		}
	}
	rank := func(s sample) int {
		switch {
		case strings.HasSuffix(s.name, "_bucket"):
			return 0
		case strings.HasSuffix(s.name, "_sum"):
			return 1
		case strings.HasSuffix(s.name, "_count"):
			return 2
		}
		return 3
	}
	slices.SortStableFunc(f.samples, func(a, b sample) int {
		if c := first[a.labels] - first[b.labels]; c != 0 {
			return c
		}
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		if rank(a) == 0 {
			switch {
			case a.le < b.le:
				return -1
			case a.le > b.le:
				return 1
			}
		}
		return 0
	})
}

// parseSample splits "name{labels} value" (timestamp already stripped). Label values may hold
// any escaped character.
func parseSample(line []byte) (sample, bool) {
	s := sample{line: string(line), le: math.NaN()}
	i := 0
	for i < len(line) && line[i] != '{' && line[i] != ' ' {
		i++
	}
	s.name = string(line[:i])
	if s.name == "" {
		return s, false
	}
	if i < len(line) && line[i] == '{' {
		var kept []string
		i++
		for i < len(line) && line[i] != '}' {
			start := i
			for i < len(line) && line[i] != '=' {
				i++
			}
			if i+1 >= len(line) || line[i+1] != '"' {
				return s, false
			}
			key := strings.TrimSpace(strings.TrimLeft(string(line[start:i]), ","))
			i += 2
			vstart := i
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(line) {
				return s, false
			}
			val := string(line[vstart:i])
			i++ // closing quote
			if i < len(line) && line[i] == ',' {
				i++
			}
			if key == "le" {
				if v, err := strconv.ParseFloat(val, 64); err == nil {
					s.le = v
				} else if val == "+Inf" {
					s.le = math.Inf(1)
				}
				continue
			}
			kept = append(kept, key+"="+strconv.Quote(val))
		}
		if i >= len(line) {
			return s, false
		}
		s.labels = strings.Join(kept, ",")
	}
	return s, true
}
