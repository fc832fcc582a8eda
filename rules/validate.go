package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/batchwatch/batchwatch/collector"
)

// This file is the only caller of rulefmt and the PromQL parser, because
// their signatures change between Prometheus releases. go.mod pins
// github.com/prometheus/prometheus to the release promtool is built from.

// Validate parses content as a Prometheus rule file and returns every
// problem it finds. It reports YAML and rule format errors, expressions and
// annotation templates that do not parse, and selectors of metrics that
// batchwatch does not export and no recording rule of the file produces.
// Metric and label names must be valid under the legacy (pre-UTF-8) scheme.
func Validate(content []byte) error {
	p := newParser()
	groups, errs := rulefmt.Parse(content, false, model.LegacyValidation, p, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	known := map[string]bool{"up": true}
	for _, name := range collector.MetricNames() {
		known[name] = true
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}

	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			names, err := selectedMetrics(p, r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("group %s, rule %s: %w", g.Name, ruleName(r), err))
				continue
			}
			for _, name := range names {
				if !known[name] && !known[histogramBase(name)] {
					errs = append(errs, fmt.Errorf("group %s, rule %s: unknown metric %s: not exported by batchwatch and not recorded by this file", g.Name, ruleName(r), name))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// newParser returns a PromQL parser with the default options: the functions
// of the pinned Prometheus release, without experimental ones.
func newParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

// selectedMetrics returns the metric names of the vector and matrix
// selectors of a PromQL expression, sorted and without duplicates. A
// selector without a metric name is an error, because it could select any
// series.
func selectedMetrics(p parser.Parser, expr string) ([]string, error) {
	node, err := p.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			err = fmt.Errorf("selector %s has no metric name", vs)
			return err
		}
		names = append(names, vs.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// histogramBase maps a classic histogram series name to its family name. It
// cannot tell histograms from other families, because collector.MetricNames
// returns names only, so batchwatch_x_count passes when batchwatch_x exists
// whatever its type.
func histogramBase(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

func ruleName(r rulefmt.Rule) string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}
