package rules

import "strconv"

const workloadObject = "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.workload }}"

// Recording rules that the workload alerts read. They are in the same group
// as the alerts, so an alert reads the values recorded in the same
// evaluation.
const (
	recordTimeSinceSuccess = "namespace_kind_name:batchwatch_schedule_last_success_timestamp_seconds:time_since"
	recordLongestInterval  = "namespace_kind_name:batchwatch_schedule_interval_seconds:max_over_time"
)

// workloadGroup returns the rules about whether recurring work gets done:
// recording rules over finished runs for dashboards, then the alerts on the
// latest outcome and on the age of the last success.
func (c *Config) workloadGroup() ruleGroup {
	window := c.RunStatsWindow.String()
	rules := []rule{
		{
			Record: recordTimeSinceSuccess,
			Expr:   "time() - " + c.series("batchwatch_schedule_last_success_timestamp_seconds"),
		},
		{
			Record: recordLongestInterval,
			Expr:   "max_over_time(" + c.series("batchwatch_schedule_interval_seconds") + "[" + c.IntervalLookback.String() + "])",
		},
		{
			Record: "namespace_kind_workload_outcome:batchwatch_runs_finished:increase",
			Expr: `sum by (namespace, kind, workload, outcome) (
  increase(` + c.series("batchwatch_runs_finished_total") + `[` + window + `])
)`,
		},
		{
			Record: "namespace_kind_workload_reason:batchwatch_pod_failures:increase",
			Expr: `sum by (namespace, kind, workload, reason) (
  increase(` + c.series("batchwatch_pod_failures_total") + `[` + window + `])
)`,
		},
	}
	for _, q := range c.DurationQuantiles {
		rules = append(rules, c.durationQuantile(q))
	}
	return ruleGroup{
		Name: "batchwatch-workload",
		Rules: append(rules,
			c.alertRule(c.workloadFailing()),
			c.alertRule(c.workloadFailingStreak()),
			c.alertRule(c.workloadNoRecentSuccess()),
		),
	}
}

// durationQuantile records one quantile of the duration of the runs that
// finished in the run stats window, per workload and outcome. Workloads
// without a finished run in the window get no sample instead of NaN.
func (c *Config) durationQuantile(q float64) rule {
	window := c.RunStatsWindow.String()
	return rule{
		Record: "namespace_kind_workload_outcome:batchwatch_run_duration_seconds:histogram_quantile",
		Expr: `histogram_quantile(` + formatFloat(q) + `,
  sum by (namespace, kind, workload, outcome, le) (
    increase(` + c.series("batchwatch_run_duration_seconds_bucket") + `[` + window + `])
  )
)
and on (namespace, kind, workload, outcome)
(
  sum by (namespace, kind, workload, outcome) (
    increase(` + c.series("batchwatch_run_duration_seconds_count") + `[` + window + `])
  ) > 0
)`,
		Labels: map[string]string{"quantile": formatFloat(q)},
	}
}

func (c *Config) workloadFailing() alert {
	return alert{
		name:     alertWorkloadFailing,
		severity: severityWarning,
		expr: `(
  ` + c.series("batchwatch_workload_consecutive_failures") + `
  and on (namespace, kind, workload)
  (` + c.series("batchwatch_workload_last_run_failed") + ` == 1)
)
unless on (namespace, kind, workload)
  ` + c.suspendedWorkloads(),
		summary: "The latest finished run of a workload failed.",
		description: `The latest finished run of ` + workloadObject + ` failed. ` +
			`Failed runs since its last success, among the runs the cluster retains: {{ $value | printf "%.0f" }}. ` +
			`Threshold: the latest finished run failed. ` +
			`It resolves when a run of the workload succeeds, or when its schedule is suspended.`,
	}
}

// workloadFailingStreak is BatchWorkloadFailing at critical severity.
//
// NOTE: the streak counts only the runs the cluster retains. A CronJob keeps
// one failed Job by default (failedJobsHistoryLimit: 1), so this fires only
// for CronJobs that keep at least FailingCriticalStreak failed Jobs, and for
// standalone workloads. BatchWorkloadNoRecentSuccess covers the others.
func (c *Config) workloadFailingStreak() alert {
	streak := strconv.Itoa(c.FailingCriticalStreak)
	return alert{
		name:     alertWorkloadFailing,
		severity: severityCritical,
		expr: `(
  ` + c.series("batchwatch_workload_consecutive_failures") + ` >= ` + streak + `
)
unless on (namespace, kind, workload)
  ` + c.suspendedWorkloads(),
		summary: "Several consecutive runs of a workload failed.",
		description: workloadObject + ` has {{ $value | printf "%.0f" }} consecutive failed runs since its last success, ` +
			`counted among the runs the cluster retains. ` +
			`Threshold: ` + streak + ` consecutive failed runs. ` +
			`It resolves when a run of the workload succeeds, or when its schedule is suspended.`,
	}
}

// workloadNoRecentSuccess compares the age of the last success with the
// longest slot interval of the lookback window, so that the first run after
// a long gap, such as the weekend of a weekday-only schedule, is still
// measured against that gap.
//
// NOTE: a schedule that has never succeeded has no last-success series, so
// this alert cannot fire for it. BatchWorkloadFailing covers that case.
func (c *Config) workloadNoRecentSuccess() alert {
	grace := c.NoRecentSuccessGrace.String()
	return alert{
		name:     alertWorkloadNoSuccess,
		severity: severityCritical,
		expr: `(
  ` + recordTimeSinceSuccess + `
    > 2 * ` + recordLongestInterval + ` + ` + seconds(c.NoRecentSuccessGrace) + `
)
unless on (namespace, kind, name)
  ` + c.suspendedSchedules(),
		summary: "A schedule has not had a successful run for two intervals.",
		description: scheduleObject + ` has not finished a successful run for {{ $value | humanizeDuration }}. ` +
			`Threshold: two schedule intervals of ` +
			c.queryValue(recordLongestInterval, scheduleIdentity, "humanizeDuration", "unknown length") +
			` (the longest in the last ` + c.IntervalLookback.String() + `) plus ` + grace + ` grace. ` +
			`It resolves when a run of the schedule succeeds, or when the schedule is suspended.`,
	}
}
