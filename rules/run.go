package rules

var runIdentity = []string{"namespace", "kind", "name", "workload"}

const runObject = "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }} (workload {{ $labels.workload }})"

const recordRetryRatio = "namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit"

// runGroup returns the rules about active runs. Run series exist only while
// a run is active, so every alert here resolves when its run finishes.
//
// Unlike the schedule and workload alerts, these fire for runs of suspended
// schedules too: suspending a CronJob stops new runs, not the active ones.
func (c *Config) runGroup() ruleGroup {
	return ruleGroup{
		Name: "batchwatch-run",
		Rules: []rule{
			{
				// A retry limit of 0 leaves no budget to measure: the first
				// failed attempt fails the run.
				Record: recordRetryRatio,
				Expr:   c.series("batchwatch_run_retries") + "\n/\n(" + c.series("batchwatch_run_retry_limit") + " > 0)",
			},
			c.alertRule(c.runNearDeadline()),
			c.alertRule(c.runPastDeadline()),
			c.alertRule(c.retryBudgetLow()),
		},
	}
}

func (c *Config) runElapsed() string {
	return c.queryValue("batchwatch_run_elapsed_seconds", runIdentity, "humanizeDuration", "an unknown time")
}

func (c *Config) runNearDeadline() alert {
	return alert{
		name:     alertRunNearDeadline,
		severity: severityWarning,
		expr:     c.series("batchwatch_run_deadline_utilization_ratio") + " >= " + formatFloat(c.DeadlineWarningRatio),
		summary:  "An active run is close to its deadline.",
		description: runObject + ` has run for ` + c.runElapsed() + `, {{ $value | humanizePercentage }} of its deadline (activeDeadlineSeconds). ` +
			`Threshold: ` + formatPercent(c.DeadlineWarningRatio) + `. ` +
			`At 100% the controller terminates the run and marks it failed. ` +
			`It resolves when the run finishes.`,
	}
}

func (c *Config) runPastDeadline() alert {
	return alert{
		name:     alertRunPastDeadline,
		severity: severityCritical,
		expr:     c.series("batchwatch_run_deadline_utilization_ratio") + " >= 1",
		summary:  "An active run is past its deadline and has not been terminated.",
		description: runObject + ` has run for ` + c.runElapsed() + `, {{ $value | humanizePercentage }} of its deadline (activeDeadlineSeconds), and is still active. ` +
			`Threshold: 100%. The controller should have terminated it at the deadline. ` +
			`Until it finishes, a CronJob with concurrencyPolicy Forbid starts no new run. ` +
			`It resolves when the run finishes or is deleted.`,
	}
}

func (c *Config) retryBudgetLow() alert {
	return alert{
		name:     alertRetryBudgetLow,
		severity: severityWarning,
		expr:     recordRetryRatio + " >= " + formatFloat(c.RetryBudgetRatio),
		summary:  "An active run has used most of its retry limit.",
		description: runObject + ` has used {{ $value | humanizePercentage }} of its retry limit: ` +
			c.queryValue("batchwatch_run_retries", runIdentity, `printf "%.0f"`, "an unknown number of") + ` failed attempts of ` +
			c.queryValue("batchwatch_run_retry_limit", runIdentity, `printf "%.0f"`, "an unknown number") + ` allowed. ` +
			`Threshold: ` + formatPercent(c.RetryBudgetRatio) + `. ` +
			`A failed attempt beyond the limit fails the run. ` +
			`It resolves when the run finishes.`,
	}
}
