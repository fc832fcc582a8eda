package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Overview builds the fleet health dashboard: what is failing, missed, close
// to its deadline or retry limit, waiting to start, and whether the exporter
// itself is healthy.
func Overview(cfg Config) (dashboard.Dashboard, error) {
	s := newSelectors(cfg)
	return newDashboard(cfg, "overview", "batchwatch / Overview",
		"Fleet health of batch workloads: failing workloads, missed and skipped slots, runs near their deadline or retry limit, backlog, and the exporter's own health.").
		WithRow(row("Workloads and schedules")).
		WithPanel(failingWorkloadsStat(s)).
		WithPanel(missedSlotsStat(s)).
		WithPanel(skippedByPolicyStat(s)).
		WithPanel(passedOverSlotsStat(s)).
		WithPanel(invalidSchedulesStat(s)).
		WithPanel(maxOverdueStat(s)).
		WithPanel(failingWorkloadsTable(s)).
		WithPanel(failingWorkloadsByNamespace(s)).
		WithRow(row("Active runs")).
		WithPanel(activeRunsStat(s)).
		WithPanel(runsNearDeadlineStat(s, cfg)).
		WithPanel(runsPastDeadlineStat(s, cfg)).
		WithPanel(runsLowOnRetriesStat(s, cfg)).
		WithPanel(topDeadlineUtilization(s, cfg)).
		WithPanel(topRetryBudgetUsed(s, cfg)).
		WithRow(row("Backlog")).
		WithPanel(waitingRunsStat(s).Span(6).Height(8)).
		WithPanel(oldestWaitStat(s, cfg).Span(6).Height(8)).
		WithPanel(waitingRunsByState(s)).
		WithRow(row("Exporter")).
		WithPanel(exporterTargetsUpStat(s).Height(8)).
		WithPanel(informersNotSyncedStat(s).Height(8)).
		WithPanel(collectorsFailingStat(s).Height(8)).
		WithPanel(scrapeDuration(s)).
		Build()
}

func failingWorkloadsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Failing workloads",
		"Workloads whose latest finished run failed (batchwatch_workload_last_run_failed = 1). Above 0, BatchWorkloadFailing fires or is pending; a workload leaves the count when one of its runs succeeds.",
		units.Short,
		query(fmt.Sprintf("count(%s == 1) or vector(0)", s.workload("batchwatch_workload_last_run_failed")), "failing"),
		anyIsBad())
}

func missedSlotsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Missed slots",
		"Slots whose grace has passed without a run (sum of batchwatch_schedule_missed_runs with reason not_started). Above 0, the controller did not start a run the schedule asked for: BatchScheduleMissed.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.schedule("batchwatch_schedule_missed_runs", `reason="not_started"`)), "missed"),
		anyIsBad())
}

func skippedByPolicyStat(s selectors) *stat.PanelBuilder {
	return statPanel("Slots skipped by Forbid",
		"Slots not started because concurrencyPolicy Forbid found a run still active (sum of batchwatch_schedule_missed_runs with reason concurrency_forbidden). Above 0, runs last longer than the schedule interval: BatchScheduleSkipped.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.schedule("batchwatch_schedule_missed_runs", `reason="concurrency_forbidden"`)), "skipped"),
		anyIsBad())
}

func passedOverSlotsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Slots lost in range",
		"Slots that status.lastScheduleTime moved past without a run during the time range (increase of batchwatch_schedule_skipped_runs_total). Above 0, those runs will never happen, because the controller starts only the latest missed slot: BatchScheduleSkipped.",
		units.Short,
		query(fmt.Sprintf("round(sum(increase(%s[$__range]))) or vector(0)", s.schedule("batchwatch_schedule_skipped_runs_total")), "lost"),
		anyIsBad())
}

func invalidSchedulesStat(s selectors) *stat.PanelBuilder {
	return statPanel("Invalid schedules",
		"Schedules whose cron expression or time zone cannot be parsed (batchwatch_schedule_invalid = 1). Above 0, those schedules never start a run: BatchScheduleInvalid.",
		units.Short,
		query(fmt.Sprintf("count(%s == 1) or vector(0)", s.schedule("batchwatch_schedule_invalid")), "invalid"),
		anyIsBad())
}

func maxOverdueStat(s selectors) *stat.PanelBuilder {
	return statPanel("Most overdue schedule",
		"Largest batchwatch_schedule_overdue_seconds: now minus the oldest missed slot, in seconds. Above 0, a schedule has a slot whose grace passed without a run.",
		units.Seconds,
		query(fmt.Sprintf("max(%s) or vector(0)", s.schedule("batchwatch_schedule_overdue_seconds")), "overdue"),
		anyIsBad())
}

func failingWorkloadsTable(s selectors) *table.PanelBuilder {
	return tablePanel("Failing workloads by consecutive failures",
		"Workloads whose latest finished run failed (batchwatch_workload_last_run_failed = 1), with batchwatch_workload_consecutive_failures: failed runs since the latest success. Any row is a failing workload; more consecutive failures mean a longer outage. The workload links to its runs.",
		[]column{{
			header: "Consecutive failures",
			expr: fmt.Sprintf("%s and %s == 1",
				s.workload("batchwatch_workload_consecutive_failures"), s.workload("batchwatch_workload_last_run_failed")),
			unit:  units.Short,
			scale: anyIsBad(),
		}},
		runsLink("workload")).
		Span(12).
		Height(8)
}

func failingWorkloadsByNamespace(s selectors) *timeseries.PanelBuilder {
	return timeseriesPanel("Failing workloads by namespace",
		"Workloads whose latest finished run failed, per namespace (sum of batchwatch_workload_last_run_failed). A rising line means more workloads fail; a step down means a workload recovered.",
		units.Short,
		query(fmt.Sprintf("sum by (%s) (%s)", s.by("namespace"), s.workload("batchwatch_workload_last_run_failed")), "{{namespace}}"))
}

func activeRunsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Active runs",
		"Runs that have started and not finished (count of batchwatch_run_elapsed_seconds). Neither good nor bad by itself; compare with the usual level.",
		units.Short,
		query(fmt.Sprintf("count(%s) or vector(0)", s.workload("batchwatch_run_elapsed_seconds")), "active"),
		neutral()).
		Span(6)
}

func runsNearDeadlineStat(s selectors, cfg Config) *stat.PanelBuilder {
	return statPanel("Runs near their deadline",
		fmt.Sprintf("Active runs that used at least %s of spec.activeDeadlineSeconds (batchwatch_run_deadline_utilization_ratio >= %v). Above 0, those runs will be killed with DeadlineExceeded unless they finish soon: BatchRunNearDeadline.",
			percent(cfg.DeadlineWarningRatio), cfg.DeadlineWarningRatio),
		units.Short,
		query(fmt.Sprintf("count(%s >= %v) or vector(0)", s.workload("batchwatch_run_deadline_utilization_ratio"), cfg.DeadlineWarningRatio), "near deadline"),
		thresholds(colorOK, threshold{1, colorWarning})).
		Span(6)
}

func runsPastDeadlineStat(s selectors, cfg Config) *stat.PanelBuilder {
	return statPanel("Runs at their deadline",
		fmt.Sprintf("Active runs whose elapsed time reached %s of spec.activeDeadlineSeconds (batchwatch_run_deadline_utilization_ratio >= %v). Above 0, the controller should already have terminated those runs: BatchRunPastDeadline.",
			percent(deadlineRatio), deadlineRatio),
		units.Short,
		query(fmt.Sprintf("count(%s >= %v) or vector(0)", s.workload("batchwatch_run_deadline_utilization_ratio"), deadlineRatio), "at deadline"),
		anyIsBad()).
		Span(6)
}

func runsLowOnRetriesStat(s selectors, cfg Config) *stat.PanelBuilder {
	return statPanel("Runs low on retries",
		fmt.Sprintf("Active runs that used at least %s of their retry limit (namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit >= %v, the recorded batchwatch_run_retries / batchwatch_run_retry_limit). Above 0, a few more failed attempts fail the run: BatchRetryBudgetLow.",
			percent(cfg.RetryBudgetRatio), cfg.RetryBudgetRatio),
		units.Short,
		query(fmt.Sprintf("count(%s >= %v) or vector(0)", retryBudgetUsed(s), cfg.RetryBudgetRatio), "low on retries"),
		anyIsBad()).
		Span(6)
}

func topDeadlineUtilization(s selectors, cfg Config) *timeseries.PanelBuilder {
	return withThresholdLines(
		timeseriesPanel("Deadline utilisation, top 10 runs",
			deadlineDescription("The 10 active runs with the highest batchwatch_run_deadline_utilization_ratio", cfg),
			units.PercentUnit,
			query(fmt.Sprintf("topk(10, %s)", s.workload("batchwatch_run_deadline_utilization_ratio")), "{{namespace}}/{{name}}")),
		deadlineScale(cfg))
}

func topRetryBudgetUsed(s selectors, cfg Config) *timeseries.PanelBuilder {
	return withThresholdLines(
		timeseriesPanel("Retry budget used, top 10 runs",
			retryDescription("The 10 active runs with the highest share of their retry limit used", cfg),
			units.PercentUnit,
			query(fmt.Sprintf("topk(10, %s)", retryBudgetUsed(s)), "{{namespace}}/{{name}}")),
		retryScale(cfg))
}

func waitingRunsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Runs waiting to start",
		"Runs waiting to start: queued (suspended or held by Kueue) or pending (pods not scheduled), from the sum of batchwatch_backlog_runs. A level that keeps rising means the cluster or the queue cannot keep up. Backlog series have no workload label, so the workload variable does not apply.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.backlog("batchwatch_backlog_runs")), "waiting"),
		neutral())
}

func oldestWaitStat(s selectors, cfg Config) *stat.PanelBuilder {
	return statPanel("Oldest wait",
		backlogDescription("Longest wait among runs waiting to start (max of batchwatch_backlog_oldest_wait_seconds), in seconds", cfg),
		units.Seconds,
		query(fmt.Sprintf("max(%s) or vector(0)", s.backlog("batchwatch_backlog_oldest_wait_seconds")), "oldest wait"),
		backlogScale(cfg))
}

func waitingRunsByState(s selectors) *timeseries.PanelBuilder {
	return timeseriesPanel("Runs waiting to start by state",
		"Runs waiting to start by state (sum of batchwatch_backlog_runs): queued runs are suspended or held by Kueue, pending runs have pods that are not scheduled. Pending runs that do not go away point at missing capacity or unschedulable pods. Backlog series have no workload label, so the workload variable does not apply.",
		units.Short,
		query(fmt.Sprintf("sum by (%s) (%s)", s.by("state"), s.backlog("batchwatch_backlog_runs")), "{{state}}"))
}

func exporterTargetsUpStat(s selectors) *stat.PanelBuilder {
	return statPanel("Exporter targets up",
		"batchwatch targets Prometheus scraped successfully (sum of up). 0 means no batchwatch data arrives, so every other panel is stale or empty: BatchwatchDown.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.exporter("up")), "up"),
		thresholds(colorCritical, threshold{1, colorOK}))
}

func informersNotSyncedStat(s selectors) *stat.PanelBuilder {
	return statPanel("Informers not synced",
		"Informer caches that have not synced (batchwatch_informer_synced = 0). Above 0, batchwatch reports nothing for that resource: BatchwatchNotSynced.",
		units.Short,
		query(fmt.Sprintf("count(%s == 0) or vector(0)", s.exporter("batchwatch_informer_synced")), "not synced"),
		anyIsBad())
}

func collectorsFailingStat(s selectors) *stat.PanelBuilder {
	return statPanel("Collectors failing",
		"Collectors whose last scrape emitted no object series (batchwatch_collector_success = 0). Above 0, the series of that collector are missing, so panels built on them show nothing.",
		units.Short,
		query(fmt.Sprintf("count(%s == 0) or vector(0)", s.exporter("batchwatch_collector_success")), "failing"),
		anyIsBad())
}

func scrapeDuration(s selectors) *timeseries.PanelBuilder {
	return withThresholdLines(
		timeseriesPanel("Scrape duration by collector",
			"Time each collector took to compute the last scrape (batchwatch_scrape_duration_seconds), in seconds. The lines mark 5s and 10s: Prometheus's default scrape timeout is 10s, and a scrape that exceeds the timeout of its job is lost.",
			units.Seconds,
			query(fmt.Sprintf("max by (%s) (%s)", s.by("collector"), s.exporter("batchwatch_scrape_duration_seconds")), "{{collector}}")),
		thresholds(colorOK, threshold{5, colorWarning}, threshold{10, colorCritical}))
}
