package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// promqlParser is the only PromQL parser of the package, configured like a
// default Prometheus server: no experimental functions.
var promqlParser = parser.NewParser(parser.Options{})

// builtinValues are the values Grafana's built-in variables get when the
// expansion below needs them. $__rate_interval and $__interval depend on the
// scrape interval and the panel width in Grafana; any valid duration parses.
var builtinValues = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
}

// variablePattern matches Grafana variable references: $name, ${name} and
// ${name:format}. Names inside braces may contain dots (${__data.fields.x}).
var variablePattern = regexp.MustCompile(`\$(?:\{([A-Za-z_][\w.]*)(?::\w+)?\}|([A-Za-z_]\w*))`)

// labelValuesPattern splits a Grafana label_values(selector, label) variable
// query into its selector and label.
var labelValuesPattern = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_]\w*)\)$`)

// PanelQuery is the main query of one panel: the expression of its first
// target.
type PanelQuery struct {
	DashboardUID string
	PanelTitle   string
	// Expr is the expression as the dashboard stores it, with Grafana variables.
	Expr string
	// Expanded is Expr with the dashboard's default variable values: ".*"
	// for the label variables (All) and the default window. Grafana's own
	// variables get the durations in builtinValues, so $__range is 1h.
	Expanded string
}

// PanelQueries returns the main query of every panel of every dashboard, in
// dashboard and layout order.
func PanelQueries(cfg Config) ([]PanelQuery, error) {
	boards, err := render(cfg)
	if err != nil {
		return nil, err
	}

	var queries []PanelQuery
	for _, b := range boards {
		decoded, err := decodeBoard(b.json)
		if err != nil {
			return nil, err
		}
		values := decoded.defaultValues()
		for _, p := range decoded.allPanels() {
			if len(p.Targets) == 0 {
				continue
			}
			expr := p.Targets[0].Expr
			expanded, err := expandVariables(expr, values)
			if err != nil {
				return nil, fmt.Errorf("dashboard %s, panel %q: %w", decoded.UID, p.Title, err)
			}
			queries = append(queries, PanelQuery{DashboardUID: decoded.UID, PanelTitle: p.Title, Expr: expr, Expanded: expanded})
		}
	}
	return queries, nil
}

// boardJSON holds the parts of a generated dashboard that the checks and
// PanelQueries read, decoded from the JSON Grafana imports.
type boardJSON struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Tags       []string    `json:"tags"`
	Panels     []panelJSON `json:"panels"`
	Links      []linkJSON  `json:"links"`
	Templating struct {
		List []variableJSON `json:"list"`
	} `json:"templating"`
}

type panelJSON struct {
	Type        string       `json:"type"`
	ID          uint32       `json:"id"`
	Title       string       `json:"title"`
	Description string       `json:"description"`
	Targets     []targetJSON `json:"targets"`
	// Panels holds the panels of a collapsed row.
	Panels      []panelJSON `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type targetJSON struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type linkJSON struct {
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	KeepTime    bool     `json:"keepTime"`
	IncludeVars bool     `json:"includeVars"`
}

type variableJSON struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

func decodeBoard(encoded []byte) (boardJSON, error) {
	var board boardJSON
	if err := json.Unmarshal(encoded, &board); err != nil {
		return boardJSON{}, fmt.Errorf("decode dashboard JSON: %w", err)
	}
	return board, nil
}

// allPanels returns every panel that is not a row, including the panels of
// collapsed rows, in layout order.
func (b boardJSON) allPanels() []panelJSON {
	var panels []panelJSON
	var walk func([]panelJSON)
	walk = func(list []panelJSON) {
		for _, p := range list {
			if p.Type != "row" {
				panels = append(panels, p)
			}
			walk(p.Panels)
		}
	}
	walk(b.Panels)
	return panels
}

// defaultValues maps each dashboard variable to the value Grafana substitutes
// by default: the all value for variables that include All, else the
// current value. The datasource variable is left out because it never
// appears inside an expression.
func (b boardJSON) defaultValues() map[string]string {
	values := make(map[string]string, len(b.Templating.List))
	for _, v := range b.Templating.List {
		switch {
		case v.Type == "datasource":
		case v.IncludeAll:
			values[v.Name] = v.AllValue
		default:
			if current, ok := v.Current.Value.(string); ok {
				values[v.Name] = current
			}
		}
	}
	return values
}

// queryString returns the query of a query variable, which the SDK encodes
// either as a plain string or as an object with a query field.
func (v variableJSON) queryString() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		if s, ok := q["query"].(string); ok {
			return s
		}
	}
	return ""
}

// referencedVariables returns the names of the Grafana variables that text
// references, in order of appearance and without duplicates.
func referencedVariables(text string) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range variablePattern.FindAllStringSubmatch(text, -1) {
		name := m[1] + m[2]
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// expandVariables replaces every Grafana variable in expr by its value in
// values or builtinValues. It fails on a variable that neither defines.
func expandVariables(expr string, values map[string]string) (string, error) {
	var undefined []string
	expanded := variablePattern.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variablePattern.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if value, ok := values[name]; ok {
			return value
		}
		if value, ok := builtinValues[name]; ok {
			return value
		}
		undefined = append(undefined, name)
		return ref
	})
	if len(undefined) > 0 {
		return "", fmt.Errorf("undefined variables %s in %q", strings.Join(undefined, ", "), expr)
	}
	return expanded, nil
}

// parseExpr expands the Grafana variables of expr and parses the result.
func parseExpr(expr string, values map[string]string) (parser.Expr, error) {
	expanded, err := expandVariables(expr, values)
	if err != nil {
		return nil, err
	}
	parsed, err := promqlParser.ParseExpr(expanded)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expanded, err)
	}
	return parsed, nil
}

// parseVariableQuery parses the selector of a label_values variable query
// and returns it with the label whose values the variable lists.
func parseVariableQuery(query string, values map[string]string) (parser.Expr, string, error) {
	m := labelValuesPattern.FindStringSubmatch(query)
	if m == nil {
		return nil, "", fmt.Errorf("unsupported variable query %q, expected label_values(selector, label)", query)
	}
	selector, err := parseExpr(m[1], values)
	if err != nil {
		return nil, "", err
	}
	if _, ok := selector.(*parser.VectorSelector); !ok {
		return nil, "", fmt.Errorf("variable query %q: %q is not a series selector", query, m[1])
	}
	return selector, m[2], nil
}

// checkQueries parses every target expression and every variable query of an
// encoded dashboard, so that generation fails on a query Prometheus would
// reject.
func checkQueries(encoded []byte) error {
	board, err := decodeBoard(encoded)
	if err != nil {
		return err
	}

	values := board.defaultValues()
	var errs []error
	for _, p := range board.allPanels() {
		for _, t := range p.Targets {
			if _, err := parseExpr(t.Expr, values); err != nil {
				errs = append(errs, fmt.Errorf("panel %q, query %s: %w", p.Title, t.RefID, err))
			}
		}
	}
	for _, v := range board.Templating.List {
		if v.Type != "query" {
			continue
		}
		if _, _, err := parseVariableQuery(v.queryString(), values); err != nil {
			errs = append(errs, fmt.Errorf("variable %s: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}
