package rules

// batchwatchGroup returns the alerts on the exporter itself. While they
// fire, the other alerts of the pack cannot: their series are missing.
func (c *Config) batchwatchGroup() ruleGroup {
	target := "up{" + c.Selector + "}"
	return ruleGroup{
		Name: "batchwatch",
		Rules: []rule{
			c.alertRule(alert{
				name:     alertBatchwatchDown,
				severity: severityCritical,
				expr:     target + " == 0\nor\nabsent(" + target + ")",
				summary:  "Prometheus cannot scrape batchwatch.",
				description: `{{ with $labels.instance }}The batchwatch target {{ . }} is down (up is 0){{ else }}Prometheus has no target matching ` +
					target + `{{ end }}, so no batch alert can fire. ` +
					`Threshold: no successful scrape for ` + c.For[alertBatchwatchDown].String() + `. ` +
					`It resolves when Prometheus scrapes batchwatch successfully.`,
			}),
			c.alertRule(alert{
				name:     alertBatchwatchNotSynced,
				severity: severityWarning,
				expr:     c.series("batchwatch_informer_synced") + " == 0",
				summary:  "batchwatch has not synced its cache of a resource.",
				description: `batchwatch {{ $labels.instance }} has not synced its informer cache of {{ $labels.resource }}, ` +
					`so it emits no series for those objects and the alerts that read them cannot fire. ` +
					`Threshold: not synced for ` + c.For[alertBatchwatchNotSynced].String() + `. ` +
					`It resolves when the cache syncs.`,
			}),
		},
	}
}
