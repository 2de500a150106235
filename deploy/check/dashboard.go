package check

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Dashboard is the part of a Grafana dashboard JSON model that the checks read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel; rows hold their collapsed children in Panels.
type Panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	GridPos GridPos  `json:"gridPos"`
	Targets []Target `json:"targets"`
	Panels  []Panel  `json:"panels"`
}

// GridPos is a panel's place on the dashboard's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one query of a panel.
type Target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

// Variable is a templating variable. Query is a string or a {"query": ...} object,
// depending on the Grafana version that saved the dashboard.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Definition string          `json:"definition"`
	Query      json.RawMessage `json:"query"`
}

// QueryText returns the variable's query as a string.
func (v Variable) QueryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &obj) == nil && obj.Query != "" {
		return obj.Query
	}
	return v.Definition
}

// ParseDashboard decodes a Grafana dashboard JSON model.
func ParseDashboard(r io.Reader) (*Dashboard, error) {
	var d Dashboard
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("decode dashboard: %w", err)
	}
	return &d, nil
}

// AllPanels returns every panel, including those nested in rows, in order.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// labelValues matches Grafana's Prometheus variable functions that take a series selector.
var labelValues = regexp.MustCompile(`^\s*(?:label_values|query_result)\((.*?)(?:,\s*[A-Za-z_][A-Za-z0-9_]*)?\)\s*$`)

// Exprs returns every PromQL expression of the dashboard: each panel target's expr, and the
// series selector or query of each query variable (label_values(selector, label),
// query_result(query)), with Grafana variables expanded by ExpandGrafanaVars.
func (d *Dashboard) Exprs() []Expr {
	var out []Expr
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				continue
			}
			out = append(out, Expr{
				Source: fmt.Sprintf("dashboard %s: panel %d %q target %s", d.UID, p.ID, p.Title, t.RefID),
				Query:  ExpandGrafanaVars(t.Expr),
			})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.QueryText()
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		out = append(out, Expr{
			Source: fmt.Sprintf("dashboard %s: variable %s", d.UID, v.Name),
			Query:  ExpandGrafanaVars(q),
		})
	}
	return out
}
