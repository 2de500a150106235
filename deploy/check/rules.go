package check

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// Rules is what a Prometheus rule file holds, flattened.
type Rules struct {
	// Exprs are the expressions of every recording and alerting rule, in file order.
	Exprs []Expr
	// Recorded are the metric names written by recording rules.
	Recorded map[string]bool
	// Alerts are the alerting rules, in file order.
	Alerts []Alert
}

// Alert is one alerting rule.
type Alert struct {
	Name        string
	Expr        string
	For         model.Duration
	Labels      map[string]string
	Annotations map[string]string
}

// LoadRules parses the Prometheus rule file at path strictly (unknown fields are errors) and
// validates it the way Prometheus does when it loads rules.
func LoadRules(path string) (*Rules, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation)
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules %s: %w", path, errors.Join(errs...))
	}
	r := &Rules{Recorded: map[string]bool{}}
	for _, g := range groups.Groups {
		for _, rule := range g.Rules {
			switch {
			case rule.Record != "":
				r.Recorded[rule.Record] = true
				r.Exprs = append(r.Exprs, Expr{Source: fmt.Sprintf("%s: group %s: record %s", path, g.Name, rule.Record), Query: rule.Expr})
			case rule.Alert != "":
				r.Alerts = append(r.Alerts, Alert{Name: rule.Alert, Expr: rule.Expr, For: rule.For, Labels: rule.Labels, Annotations: rule.Annotations})
				r.Exprs = append(r.Exprs, Expr{Source: fmt.Sprintf("%s: group %s: alert %s", path, g.Name, rule.Alert), Query: rule.Expr})
			}
		}
	}
	return r, nil
}
