package rules

// backlogGroup returns the rules about runs that wait to start: suspended or
// Kueue-queued runs, and runs whose pods are not scheduled.
func (c *Config) backlogGroup() ruleGroup {
	maxWait := c.BacklogMaxWait.String()
	return ruleGroup{
		Name: "batchwatch-backlog",
		Rules: []rule{
			{
				Record: "namespace_kind_queue:batchwatch_backlog_runs:sum",
				Expr:   "sum by (namespace, kind, queue) (" + c.series("batchwatch_backlog_runs") + ")",
			},
			c.alertRule(alert{
				name:     alertBacklogStuck,
				severity: severityWarning,
				expr:     c.series("batchwatch_backlog_oldest_wait_seconds") + " > " + seconds(c.BacklogMaxWait),
				summary:  "A run has waited too long to start.",
				description: `The oldest waiting {{ $labels.kind }} in namespace {{ $labels.namespace }} ` +
					`{{ with $labels.queue }}(queue {{ . }}) {{ end }}has waited {{ $value | humanizeDuration }} to start. ` +
					`Runs wait while suspended or queued by Kueue, or while their pods cannot be scheduled. ` +
					`Threshold: ` + maxWait + `. ` +
					`It resolves when the oldest waiting run starts or is deleted.`,
			}),
		},
	}
}
