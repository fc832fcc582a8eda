package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Schedules builds the per-schedule dashboard: when each schedule runs
// next, when it last ran and succeeded, and which slots it missed or lost.
func Schedules(cfg Config) (dashboard.Dashboard, error) {
	s := newSelectors(cfg)
	return newDashboard(cfg, "schedules", "batchwatch / Schedules",
		"Per schedule (CronJob, CronWorkflow, ScheduledSparkApplication): next and last slot, overdue time, missed and lost slots, last success and suspension.").
		WithRow(row("Schedules")).
		WithPanel(schedulesStat(s).Span(6)).
		WithPanel(suspendedSchedulesStat(s).Span(6)).
		WithPanel(overdueSchedulesStat(s).Span(6)).
		WithPanel(invalidSchedulesStat(s).Span(6)).
		WithPanel(schedulesTable(s)).
		WithPanel(invalidSchedulesTable(s)).
		WithRow(row("History")).
		WithPanel(overdueTime(s)).
		WithPanel(missedSlotsByReason(s)).
		WithPanel(lostSlots(s)).
		WithPanel(timeSinceLastSuccess(s)).
		Build()
}

func schedulesStat(s selectors) *stat.PanelBuilder {
	return statPanel("Schedules",
		"Schedules batchwatch watches (count of batchwatch_schedule_info). A drop that nobody planned means schedules were deleted or the exporter lost access to them.",
		units.Short,
		query(fmt.Sprintf("count(%s) or vector(0)", s.schedule("batchwatch_schedule_info")), "schedules"),
		neutral())
}

func suspendedSchedulesStat(s selectors) *stat.PanelBuilder {
	return statPanel("Suspended schedules",
		"Schedules with spec.suspend set (sum of batchwatch_schedule_suspended). Suspended schedules start no runs and are never reported missed or overdue; check that each one is suspended on purpose.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.schedule("batchwatch_schedule_suspended")), "suspended"),
		thresholds(colorOK, threshold{1, colorWarning}))
}

func overdueSchedulesStat(s selectors) *stat.PanelBuilder {
	return statPanel("Overdue schedules",
		"Schedules with a slot whose grace passed without a run (batchwatch_schedule_overdue_seconds > 0). Above 0, a schedule did not start a run it should have: BatchScheduleMissed.",
		units.Short,
		query(fmt.Sprintf("count(%s > 0) or vector(0)", s.schedule("batchwatch_schedule_overdue_seconds")), "overdue"),
		anyIsBad())
}

func schedulesTable(s selectors) *table.PanelBuilder {
	return tablePanel("Schedules with next and last slot",
		"One row per schedule, from batchwatch_schedule_info (cron expression, time zone, concurrency policy) joined with "+
			"batchwatch_schedule_next_timestamp_seconds, batchwatch_schedule_last_scheduled_timestamp_seconds, batchwatch_schedule_last_success_timestamp_seconds, "+
			"batchwatch_schedule_overdue_seconds, batchwatch_schedule_missed_runs, batchwatch_schedule_suspended and batchwatch_schedule_active_runs. "+
			"Red cells need attention: an overdue time above 0 or missed slots mean runs did not start. An empty next slot means the schedule is suspended. The name links to the schedule's runs.",
		[]column{
			{expr: s.schedule("batchwatch_schedule_info"), labelsOnly: true},
			{header: "Next slot", expr: s.schedule("batchwatch_schedule_next_timestamp_seconds") + " * 1000", unit: units.DateTimeFromNow},
			{header: "Last scheduled", expr: s.schedule("batchwatch_schedule_last_scheduled_timestamp_seconds") + " * 1000", unit: units.DateTimeFromNow},
			{header: "Last success", expr: s.schedule("batchwatch_schedule_last_success_timestamp_seconds") + " * 1000", unit: units.DateTimeFromNow},
			{header: "Overdue", expr: s.schedule("batchwatch_schedule_overdue_seconds"), unit: units.Seconds, scale: anyIsBad()},
			{header: "Missed slots", expr: fmt.Sprintf("sum without (reason) (%s)", s.schedule("batchwatch_schedule_missed_runs")), unit: units.Short, scale: anyIsBad()},
			{header: "Suspended", expr: s.schedule("batchwatch_schedule_suspended"), unit: units.Short, mappings: valueText(map[string]string{"0": "no", "1": "yes"})},
			{header: "Active runs", expr: s.schedule("batchwatch_schedule_active_runs"), unit: units.Short},
		},
		runsLink("name")).
		Height(12)
}

func invalidSchedulesTable(s selectors) *table.PanelBuilder {
	return tablePanel("Invalid schedules with reason",
		"Schedules whose cron expression or time zone cannot be parsed (batchwatch_schedule_invalid = 1), with the reason. Any row is a schedule that never starts a run: BatchScheduleInvalid. Fix the expression or spec.timeZone.",
		[]column{{
			header: "Invalid",
			expr:   s.schedule("batchwatch_schedule_invalid") + " == 1",
			unit:   units.Short,
			scale:  anyIsBad(),
		}}).
		Height(6)
}

func overdueTime(s selectors) *timeseries.PanelBuilder {
	return timeseriesPanel("Overdue time",
		"Now minus the oldest missed slot, per overdue schedule (batchwatch_schedule_overdue_seconds > 0), in seconds. A line that keeps rising is a schedule whose runs stopped starting; it drops to 0 when a run starts.",
		units.Seconds,
		query(s.schedule("batchwatch_schedule_overdue_seconds")+" > 0", "{{namespace}}/{{name}}"))
}

func missedSlotsByReason(s selectors) *timeseries.PanelBuilder {
	return timeseriesPanel("Missed slots by reason",
		"Slots missed since the last scheduled run (batchwatch_schedule_missed_runs > 0), per schedule and reason. not_started means the controller did not start the run (BatchScheduleMissed); concurrency_forbidden means concurrencyPolicy Forbid skipped it because a run was still active (BatchScheduleSkipped).",
		units.Short,
		query(s.schedule("batchwatch_schedule_missed_runs")+" > 0", "{{namespace}}/{{name}} {{reason}}"))
}

func lostSlots(s selectors) *timeseries.PanelBuilder {
	return asStackedBars(timeseriesPanel("Lost slots",
		"Slots that status.lastScheduleTime moved past without a run (increase of batchwatch_schedule_skipped_runs_total), per schedule and reason. Any bar is a run that never happened: the controller starts only the latest missed slot and drops slots older than startingDeadlineSeconds.",
		units.Short,
		query(fmt.Sprintf("sum by (%s) (increase(%s[$__rate_interval])) > 0", s.by("namespace", "kind", "name", "reason"), s.schedule("batchwatch_schedule_skipped_runs_total")), "{{namespace}}/{{name}} {{reason}}")))
}

func timeSinceLastSuccess(s selectors) *timeseries.PanelBuilder {
	return timeseriesPanel("Time since last success",
		"Now minus batchwatch_schedule_last_success_timestamp_seconds, per schedule, in seconds, recorded as namespace_kind_name:batchwatch_schedule_last_success_timestamp_seconds:time_since by the batchwatch rules. Compare with the schedule's interval: more than two intervals without a success means its runs fail or do not start (BatchWorkloadNoRecentSuccess).",
		units.Seconds,
		query(s.schedule("namespace_kind_name:batchwatch_schedule_last_success_timestamp_seconds:time_since"), "{{namespace}}/{{name}}"))
}
