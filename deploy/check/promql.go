package check

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Expr is one PromQL expression found in a file, with where it came from.
type Expr struct {
	// Source names the expression's origin for error messages, e.g.
	// "rules.yaml: alert OrbitalServiceDown" or "dashboard.json: panel 3 \"Pass ratio\" target A".
	Source string
	// Query is the PromQL text as written in the file.
	Query string
}

// grafanaVar matches Grafana template variables: $name, ${name} and ${name:format}.
var grafanaVar = regexp.MustCompile(`\$\{[A-Za-z0-9_]+(?::[A-Za-z0-9_]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*`)

// grafanaRangeVars are Grafana's built-in interval variables, which stand for a duration.
var grafanaRangeVars = []string{"__rate_interval", "__interval", "__range", "__range_s", "__range_ms"}

// ExpandGrafanaVars replaces Grafana template variables in q with values that keep the
// query valid PromQL: interval variables ($__rate_interval, $__interval, $__range) become
// "5m" and every other variable becomes "x" (they only ever appear inside label matchers).
func ExpandGrafanaVars(q string) string {
	return grafanaVar.ReplaceAllStringFunc(q, func(v string) string {
		name := strings.Trim(v, "${}")
		if i := strings.IndexByte(name, ':'); i >= 0 {
			name = name[:i]
		}
		if slices.Contains(grafanaRangeVars, name) {
			return "5m"
		}
		return "x"
	})
}

// MetricNames parses q as PromQL and returns the sorted, de-duplicated metric names of its
// vector and matrix selectors. A selector without a fixed metric name (e.g. {job="x"} or
// {__name__=~"a|b"}) is an error: it cannot be checked against a list of names.
func MetricNames(q string) ([]string, error) {
	expr, err := parser.ParseExpr(q)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", q, err)
	}
	var names []string
	var selErr error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			selErr = fmt.Errorf("selector %s has no fixed metric name", vs)
			return nil
		}
		names = append(names, name)
		return nil
	})
	if selErr != nil {
		return nil, selErr
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// histogramSuffixes are the series suffixes of a classic Prometheus histogram or summary.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// FamilyName maps a series name to the metric family it belongs to in allowed: a name in
// allowed is itself; name_bucket, name_sum and name_count map to name when name is in
// allowed. It returns "" when the name belongs to no family in allowed.
func FamilyName(name string, allowed map[string]bool) string {
	if allowed[name] {
		return name
	}
	for _, s := range histogramSuffixes {
		if base, ok := strings.CutSuffix(name, s); ok && allowed[base] {
			return base
		}
	}
	return ""
}

// UnknownNames returns, for each expression, an error naming every metric it selects that is
// not in allowed (directly or as a histogram series of a family in allowed), and an error for
// each expression that does not parse. No errors means every expression is valid and only
// queries allowed names.
func UnknownNames(exprs []Expr, allowed map[string]bool) []error {
	var errs []error
	for _, e := range exprs {
		names, err := MetricNames(e.Query)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Source, err))
			continue
		}
		for _, n := range names {
			if FamilyName(n, allowed) == "" {
				errs = append(errs, fmt.Errorf("%s: metric %q is not exported", e.Source, n))
			}
		}
	}
	return errs
}
