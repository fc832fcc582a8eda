package rules

var scheduleIdentity = []string{"namespace", "kind", "name"}

const scheduleObject = "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }}"

// scheduleGroup returns the rules about whether the controller starts a run
// for every slot of a schedule: recording rules for dashboards, then alerts.
func (c *Config) scheduleGroup() ruleGroup {
	return ruleGroup{
		Name: "batchwatch-schedule",
		Rules: []rule{
			{
				Record: "namespace_kind_name:batchwatch_schedule_last_scheduled_timestamp_seconds:time_since",
				Expr:   "time() - " + c.series("batchwatch_schedule_last_scheduled_timestamp_seconds"),
			},
			c.alertRule(c.scheduleMissed()),
			c.alertRule(c.scheduleSkipped()),
			c.alertRule(c.scheduleInvalid()),
			c.alertRule(c.scheduleSuspendedLong()),
		},
	}
}

func (c *Config) scheduleMissed() alert {
	return alert{
		name:     alertScheduleMissed,
		severity: severityWarning,
		expr: `(
  ` + c.series("batchwatch_schedule_missed_runs", `reason="not_started"`) + ` > 0
)
unless on (namespace, kind, name)
  ` + c.suspendedSchedules(),
		summary: "A schedule has slots whose grace period passed without a run.",
		description: `Slots of ` + scheduleObject + ` that the controller did not start within their grace period ` +
			`(startingDeadlineSeconds or the exporter's --schedule-grace): {{ $value | printf "%.0f" }}. The oldest is overdue by ` +
			c.queryValue("batchwatch_schedule_overdue_seconds", scheduleIdentity, "humanizeDuration", "an unknown time") + `. ` +
			`Threshold: more than 0 missed slots. ` +
			`It resolves when the controller starts a run and status.lastScheduleTime moves past the missed slots, or when the schedule is suspended.`,
	}
}

func (c *Config) scheduleSkipped() alert {
	window := c.SkippedWindow.String()
	return alert{
		name:     alertScheduleSkipped,
		severity: severityWarning,
		expr: `(
  ` + c.series("batchwatch_schedule_missed_runs", `reason="concurrency_forbidden"`) + ` > 0
  or
  increase(` + c.series("batchwatch_schedule_skipped_runs_total") + `[` + window + `]) > 0
)
unless on (namespace, kind, name)
  ` + c.suspendedSchedules(),
		summary: "A schedule skipped slots without starting a run for them.",
		description: `Slots of ` + scheduleObject + ` skipped with reason {{ $labels.reason }}: {{ $value | printf "%.0f" }}. ` +
			`Reason concurrency_forbidden means a previous run was still active under concurrencyPolicy Forbid, ` +
			`and not_started means the controller passed over slots it had missed. ` +
			`Threshold: more than 0 slots skipped now or in the last ` + window + `. ` +
			`It resolves when no slot has been skipped for ` + window + `, or when the schedule is suspended.`,
	}
}

func (c *Config) scheduleInvalid() alert {
	return alert{
		name:     alertScheduleInvalid,
		severity: severityWarning,
		expr: `(
  ` + c.series("batchwatch_schedule_invalid") + ` == 1
)
unless on (namespace, kind, name)
  ` + c.suspendedSchedules(),
		summary: "A schedule cannot be parsed, so its controller never starts a run.",
		description: scheduleObject + ` has a cron expression or time zone that cannot be parsed (reason {{ $labels.reason }}), ` +
			`so no run of it will ever start. Threshold: any invalid schedule. ` +
			`It resolves when the schedule or spec.timeZone is fixed, or when the schedule is suspended.`,
	}
}

func (c *Config) scheduleSuspendedLong() alert {
	suspendedFor := c.For[alertScheduleSuspendedLong].String()
	return alert{
		name:     alertScheduleSuspendedLong,
		severity: severityInfo,
		expr:     c.series("batchwatch_schedule_suspended") + " == 1",
		summary:  "A schedule has been suspended for a long time.",
		description: scheduleObject + ` has been suspended (spec.suspend: true) for more than ` + suspendedFor + `, ` +
			`so it starts no runs and batchwatch raises no other schedule or workload alert for it. ` +
			`Time since its last scheduled run: ` +
			c.queryValue("namespace_kind_name:batchwatch_schedule_last_scheduled_timestamp_seconds:time_since", scheduleIdentity, "humanizeDuration", "none recorded") +
			`. Threshold: suspended for ` + suspendedFor + `. ` +
			`It resolves when the schedule is resumed or deleted.`,
	}
}
