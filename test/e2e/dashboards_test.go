//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/batchwatch/batchwatch/dashboards"
	"github.com/batchwatch/batchwatch/rules"
	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// healthyZeroPanels count failures of batchwatch itself. On a healthy
// exporter they show 0 through their `or vector(0)`, and the test only
// checks that their series exist and report no failure.
var healthyZeroPanels = map[string]bool{
	"Informers not synced": true,
	"Collectors failing":   true,
}

// lostSlotPanels show increase(batchwatch_schedule_skipped_runs_total). A
// slot is counted as lost when a CronJob's status.lastScheduleTime moves
// past a slot without a run, which takes the controller stopped across a
// slot and back for a later one. The controller stays stopped for the rest
// of this test, so no slot is lost: the test checks that the queries run,
// return 0, and that the counters exist at 0 for every valid schedule.
var lostSlotPanels = map[string]bool{
	"Slots lost in range": true,
	"Lost slots":          true,
}

// TestDashboardPanelsReturnData checks that the main query of every
// dashboard panel returns data from a Prometheus that scrapes batchwatch
// and evaluates the generated recording rules, with workloads that give
// each panel something to show.
func TestDashboardPanelsReturnData(t *testing.T) {
	ctx := t.Context()
	c := startCluster(t)
	namespace := createNamespace(t, c.Client(), "dashboards")

	queries, err := dashboards.PanelQueries(*dashboards.DefaultConfig())
	if err != nil {
		t.Fatalf("dashboard panel queries: %v", err)
	}
	checks := make([]*panelCheck, 0, len(queries))
	for _, q := range queries {
		check, err := newPanelCheck(q)
		if err != nil {
			t.Fatal(err)
		}
		checks = append(checks, check)
	}
	checkPanelsExist(t, checks, healthyZeroPanels)
	checkPanelsExist(t, checks, lostSlotPanels)

	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	exporter, err := cluster.StartBatchwatch(ctx, c.Kubeconfig(), "--schedule-grace="+dashboardsGrace.String())
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, exporter)
	prometheus, err := cluster.StartPrometheus(ctx, batchwatchScrapeConfig(exporter.Address(), ""), []string{filepath.Join(root, rules.RuleFilePath)})
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, prometheus)
	waitForPromQuery(t, prometheus.URL(), `up{job="batchwatch"}`, time.Minute, "successful scrape", anySampleAtLeast(1))

	createDashboardsWorkloads(t, c, prometheus.URL(), namespace)
	stopped := time.Now()

	// Each panel passes at the first query that returns its data. The last
	// to pass is a missed slot of CronJob report: the next slot after the
	// controller manager stopped, at most a minute away, plus the grace, a
	// scrape and a rule evaluation.
	timeout := time.Minute + dashboardsGrace + time.Minute
	err = wait.PollUntilContextTimeout(ctx, 5*time.Second, timeout, true, func(context.Context) (bool, error) {
		done := true
		for _, check := range checks {
			if check.passed {
				continue
			}
			// The queries get their own deadline, so that the poll's
			// timeout does not replace the last reason a panel failed.
			queryCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			check.passingSamples, check.lastErr = check.run(queryCtx, prometheus.URL())
			cancel()
			check.passed = check.lastErr == nil
			done = done && check.passed
		}
		return done, nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	t.Logf("panels checked for %s after kube-controller-manager stopped", time.Since(stopped).Round(time.Second))

	for _, check := range checks {
		t.Run(check.query.DashboardUID+"/"+check.query.PanelTitle, func(t *testing.T) {
			if !check.passed {
				t.Errorf("query %s: %v", check.query.Expanded, check.lastErr)
				return
			}
			t.Logf("samples: %v", check.passingSamples)
		})
	}
}

// panelCheck is the check of one panel's main query and its outcome.
type panelCheck struct {
	query dashboards.PanelQuery
	// data is the part of the query that reads series: the query without a
	// top-level `or vector(0)`, which would return 0 without any data.
	data string
	// selectors are the series selectors in the query, as queries.
	selectors []string

	passed bool
	// passingSamples are the samples that passed the check.
	passingSamples []promSample
	lastErr        error
}

var panelParser = parser.NewParser(parser.Options{})

func newPanelCheck(q dashboards.PanelQuery) (*panelCheck, error) {
	expr, err := panelParser.ParseExpr(q.Expanded)
	if err != nil {
		return nil, fmt.Errorf("dashboard %s, panel %q: parse %q: %w", q.DashboardUID, q.PanelTitle, q.Expanded, err)
	}
	check := &panelCheck{query: q, data: q.Expanded}
	if binary, ok := expr.(*parser.BinaryExpr); ok && binary.Op == parser.LOR && isVectorZero(binary.RHS) {
		check.data = binary.LHS.String()
	}
	for _, matchers := range parser.ExtractSelectors(expr) {
		parts := make([]string, len(matchers))
		for i, m := range matchers {
			parts[i] = m.String()
		}
		check.selectors = append(check.selectors, "{"+strings.Join(parts, ", ")+"}")
	}
	return check, nil
}

func isVectorZero(expr parser.Expr) bool {
	call, ok := expr.(*parser.Call)
	if !ok || call.Func.Name != "vector" || len(call.Args) != 1 {
		return false
	}
	number, ok := call.Args[0].(*parser.NumberLiteral)
	return ok && number.Val == 0
}

// run queries the panel at the current time. It returns the samples that
// pass the check, or an error that explains why the panel does not pass
// yet.
func (p *panelCheck) run(ctx context.Context, prometheusURL string) ([]promSample, error) {
	title := p.query.PanelTitle
	samples, err := queryPrometheus(ctx, prometheusURL, p.query.Expanded)
	if err != nil {
		return nil, err
	}

	if lostSlotPanels[title] {
		for _, s := range samples {
			if s.Value != 0 {
				return nil, fmt.Errorf("sample %v = %g, but the test loses no slot", s.Metric, s.Value)
			}
		}
		counters, err := queryPrometheus(ctx, prometheusURL, "batchwatch_schedule_skipped_runs_total")
		if err != nil {
			return nil, err
		}
		for _, c := range counters {
			if c.Value != 0 {
				return nil, fmt.Errorf("batchwatch_schedule_skipped_runs_total %v = %g, but the test loses no slot", c.Metric, c.Value)
			}
		}
		return samples, nil
	}

	if len(samples) == 0 {
		return nil, errors.New("empty result")
	}
	for _, selector := range p.selectors {
		series, err := queryPrometheus(ctx, prometheusURL, selector)
		if err != nil {
			return nil, err
		}
		if len(series) == 0 {
			return nil, fmt.Errorf("selector %s matches no series", selector)
		}
	}

	if healthyZeroPanels[title] {
		if len(samples) != 1 || samples[0].Value != 0 {
			return nil, fmt.Errorf("result %v, want the single sample 0 of a healthy exporter", samples)
		}
		return samples, nil
	}

	data := samples
	if p.data != p.query.Expanded {
		if data, err = queryPrometheus(ctx, prometheusURL, p.data); err != nil {
			return nil, err
		}
	}
	for _, s := range data {
		if s.Value != 0 && !math.IsNaN(s.Value) {
			return data, nil
		}
	}
	return nil, fmt.Errorf("%s returns no sample other than 0 or NaN: %v", p.data, data)
}

// checkPanelsExist fails the test when a panel title in titles is not on any
// dashboard, so a renamed panel does not lose its special check silently.
func checkPanelsExist(t *testing.T, checks []*panelCheck, titles map[string]bool) {
	t.Helper()
	for title := range titles {
		found := false
		for _, check := range checks {
			if check.query.PanelTitle == title {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no dashboard has a panel titled %q", title)
		}
	}
}
