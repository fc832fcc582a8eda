package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// durationWindows are the choices of the window variable, the range over
// which the duration percentiles are computed. Batch runs finish rarely, so
// a window of a few minutes would hold no finished run most of the time.
var durationWindows = []string{"1h", "6h", "1d", "7d"}

const defaultDurationWindow = "1d"

// Runs builds the dashboard of runs: active runs with their deadline and
// retry use, and the outcome, duration and pod failures of finished runs.
func Runs(cfg Config) (dashboard.Dashboard, error) {
	s := newSelectors(cfg)
	return newDashboard(cfg, "runs", "batchwatch / Runs",
		"Active runs with their deadline and retry use, and finished runs per workload: outcome and reason, duration percentiles, pod failure reasons.").
		WithVariable(windowVariable()).
		WithRow(row("Active runs")).
		WithPanel(activeRunsStat(s)).
		WithPanel(runsNearDeadlineStat(s, cfg)).
		WithPanel(runsPastDeadlineStat(s, cfg)).
		WithPanel(runsLowOnRetriesStat(s, cfg)).
		WithPanel(activeRunsTable(s, cfg)).
		WithPanel(deadlineUtilization(s, cfg)).
		WithPanel(retryBudget(s, cfg)).
		WithRow(row("Finished runs")).
		WithPanel(finishedRunsByOutcome(s)).
		WithPanel(durationPercentiles(s)).
		WithPanel(finishedRunsTable(s)).
		WithRow(row("Pod failures")).
		WithPanel(podFailuresByReason(s)).
		WithPanel(podFailuresTable(s)).
		Build()
}

func windowVariable() *dashboard.CustomVariableBuilder {
	options := make([]dashboard.VariableOption, len(durationWindows))
	for i, w := range durationWindows {
		options[i] = dashboard.VariableOption{
			Selected: cog.ToPtr(w == defaultDurationWindow),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(w)},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(w)},
		}
	}
	values := strings.Join(durationWindows, ",")
	return dashboard.NewCustomVariableBuilder("window").
		Label("Duration window").
		Description("Range of finished runs each point of the duration percentiles covers.").
		Values(dashboard.StringOrMap{String: cog.ToPtr(values)}).
		Options(options).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(defaultDurationWindow)},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(defaultDurationWindow)},
		})
}

func activeRunsTable(s selectors, cfg Config) *table.PanelBuilder {
	return tablePanel("Active runs with deadline and retries",
		"One row per active run: batchwatch_run_elapsed_seconds, batchwatch_run_deadline_utilization_ratio (elapsed / spec.activeDeadlineSeconds, empty without a deadline), "+
			"batchwatch_run_retries, batchwatch_run_retry_limit and the retry budget used (namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit, recorded by the batchwatch rules). "+
			fmt.Sprintf("Deadline cells turn orange from %s and red at %s, where the controller terminates the run; retry budget cells turn red from %s, where a few more failed attempts fail the run.",
				percent(cfg.DeadlineWarningRatio), percent(deadlineRatio), percent(cfg.RetryBudgetRatio)),
		[]column{
			{header: "Elapsed", expr: s.workload("batchwatch_run_elapsed_seconds"), unit: units.Seconds},
			{header: "Deadline used", expr: s.workload("batchwatch_run_deadline_utilization_ratio"), unit: units.PercentUnit, scale: deadlineScale(cfg)},
			{header: "Retries", expr: s.workload("batchwatch_run_retries"), unit: units.Short},
			{header: "Retry limit", expr: s.workload("batchwatch_run_retry_limit"), unit: units.Short},
			{header: "Retry budget used", expr: retryBudgetUsed(s), unit: units.PercentUnit, scale: retryScale(cfg)},
		}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName("Deadline used").Desc(true),
		})
}

func deadlineUtilization(s selectors, cfg Config) *timeseries.PanelBuilder {
	return withThresholdLines(
		timeseriesPanel("Deadline utilisation",
			deadlineDescription("batchwatch_run_deadline_utilization_ratio of each active run with a deadline", cfg),
			units.PercentUnit,
			query(s.workload("batchwatch_run_deadline_utilization_ratio"), "{{namespace}}/{{name}}")),
		deadlineScale(cfg))
}

func retryBudget(s selectors, cfg Config) *timeseries.PanelBuilder {
	return withThresholdLines(
		timeseriesPanel("Retry budget used",
			retryDescription("Share of the retry limit each active run used", cfg),
			units.PercentUnit,
			query(retryBudgetUsed(s), "{{namespace}}/{{name}}")),
		retryScale(cfg))
}

func finishedRunsByOutcome(s selectors) *timeseries.PanelBuilder {
	return asStackedBars(timeseriesPanel("Finished runs by outcome and reason",
		"Runs that finished per interval (increase of batchwatch_runs_finished_total), by outcome and the reason of the final condition. Failed bars, and reasons such as DeadlineExceeded or BackoffLimitExceeded, are runs that did not do their work. Counts start at 0 when batchwatch starts.",
		units.Short,
		query(fmt.Sprintf("sum by (%s) (increase(%s[$__rate_interval])) > 0", s.by("outcome", "reason"), s.workload("batchwatch_runs_finished_total")), "{{outcome}} {{reason}}")))
}

func durationPercentiles(s selectors) *timeseries.PanelBuilder {
	bucket := s.workload("batchwatch_run_duration_seconds_bucket")
	return timeseriesPanel("Run duration p50 and p95",
		"Median and 95th percentile duration of runs that finished within the window before each point, per workload, in seconds, from the batchwatch_run_duration_seconds histogram. A rising p95 means runs slow down and approach their deadline; no line means no run finished in the window (a workload without runs in the window would give NaN, which the >= 0 filter drops).",
		units.Seconds,
		query(fmt.Sprintf("histogram_quantile(0.5, sum by (%s) (rate(%s[$window]))) >= 0", s.by("namespace", "kind", "workload", "le"), bucket), "p50 {{namespace}}/{{workload}}"),
		query(fmt.Sprintf("histogram_quantile(0.95, sum by (%s) (rate(%s[$window]))) >= 0", s.by("namespace", "kind", "workload", "le"), bucket), "p95 {{namespace}}/{{workload}}"))
}

func finishedRunsTable(s selectors) *table.PanelBuilder {
	bucket := s.workload("batchwatch_run_duration_seconds_bucket")
	return tablePanel("Finished runs per workload in the time range",
		"Per workload and outcome over the dashboard's time range: finished runs (increase of batchwatch_run_duration_seconds_count) and their median and 95th percentile duration from the batchwatch_run_duration_seconds histogram, in seconds. Compare the p95 with the deadline of the workload's runs; a workload with only failed rows never succeeded in the range.",
		[]column{
			{header: "Finished runs", expr: fmt.Sprintf("round(sum by (%s) (increase(%s[$__range]))) > 0", s.by("namespace", "kind", "workload", "outcome"), s.workload("batchwatch_run_duration_seconds_count")), unit: units.Short},
			{header: "p50", expr: fmt.Sprintf("histogram_quantile(0.5, sum by (%s) (rate(%s[$__range]))) >= 0", s.by("namespace", "kind", "workload", "outcome", "le"), bucket), unit: units.Seconds},
			{header: "p95", expr: fmt.Sprintf("histogram_quantile(0.95, sum by (%s) (rate(%s[$__range]))) >= 0", s.by("namespace", "kind", "workload", "outcome", "le"), bucket), unit: units.Seconds},
		})
}

func podFailuresByReason(s selectors) *timeseries.PanelBuilder {
	return asStackedBars(timeseriesPanel("Pod failures by reason",
		"Failed pods and container restarts per interval (increase of batchwatch_pod_failures_total), by reason. OOMKilled means the memory limit is too low for the work; Evicted and Disrupted point at node pressure or drains, not at the workload; Error is a non-zero exit.",
		units.Short,
		query(fmt.Sprintf("sum by (%s) (increase(%s[$__rate_interval])) > 0", s.by("reason"), s.workload("batchwatch_pod_failures_total")), "{{reason}}")))
}

func podFailuresTable(s selectors) *table.PanelBuilder {
	return tablePanel("Pod failures per workload in the time range",
		"Failed pods and container restarts per workload, reason and exit code over the dashboard's time range (increase of batchwatch_pod_failures_total). Rows with OOMKilled need a higher memory limit; a recurring exit code points at a bug in the workload.",
		[]column{{
			header: "Failures",
			expr:   fmt.Sprintf("round(sum by (%s) (increase(%s[$__range]))) > 0", s.by("namespace", "kind", "workload", "reason", "exit_code"), s.workload("batchwatch_pod_failures_total")),
			unit:   units.Short,
			scale:  anyIsBad(),
		}}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName("Failures").Desc(true),
		}).
		Span(12).
		Height(8)
}
