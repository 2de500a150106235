package check

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ExposedNames parses a Prometheus text exposition (what /metrics serves) and returns the
// metric family names it contains. Series of classic histograms and summaries are folded
// into their family (x_bucket, x_sum and x_count into x), whether or not a # TYPE line
// declared the family.
func ExposedNames(r io.Reader) (map[string]bool, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	names := make(map[string]bool, len(fams))
	for name := range fams {
		// Without a # TYPE line the series of a histogram arrive as separate untyped
		// families; x_count is always among them, so it identifies the family x.
		for _, s := range histogramSuffixes {
			if base, ok := strings.CutSuffix(name, s); ok && fams[base+"_count"] != nil {
				name = base
				break
			}
		}
		names[name] = true
	}
	return names, nil
}

// docName matches a backquoted Prometheus metric name in docs/metrics.md.
var docName = regexp.MustCompile("`((?:orbital|pipeline)_[a-z0-9_]+)(?:\\{[^`]*\\})?`")

// DocumentedNames returns the metric names documented in docs/metrics.md: every backquoted
// name starting with orbital_ or pipeline_ on a table row (a trailing {labels} is ignored).
func DocumentedNames(r io.Reader) (map[string]bool, error) {
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if len(line) == 0 || line[0] != '|' {
			continue
		}
		for _, m := range docName.FindAllStringSubmatch(line, -1) {
			names[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics doc: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("read metrics doc: no metric names found")
	}
	return names, nil
}
