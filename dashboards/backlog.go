package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Backlog builds the dashboard of runs waiting to start: how many wait in
// each queue and state, and for how long.
func Backlog(cfg Config) (dashboard.Dashboard, error) {
	s := newSelectors(cfg)
	return newDashboard(cfg, "backlog", "batchwatch / Backlog",
		"Runs waiting to start, by queue and state (queued: suspended or held by Kueue; pending: pods not scheduled), and the oldest wait per queue. Backlog series have no workload label, so the workload variable does not apply here.").
		WithRow(row("Backlog")).
		WithPanel(waitingRunsStat(s).Span(6)).
		WithPanel(queuedRunsStat(s).Span(6)).
		WithPanel(pendingRunsStat(s).Span(6)).
		WithPanel(oldestWaitStat(s, cfg).Span(6)).
		WithPanel(backlogTable(s, cfg)).
		WithPanel(waitingRunsByQueue(s)).
		WithPanel(oldestWaitByQueue(s, cfg)).
		Build()
}

func queuedRunsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Queued runs",
		"Runs that are suspended or held by Kueue (sum of batchwatch_backlog_runs with state queued). A level that keeps rising means the queue admits runs more slowly than they arrive: check the queue's quota.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.backlog("batchwatch_backlog_runs", `state="queued"`)), "queued"),
		neutral())
}

func pendingRunsStat(s selectors) *stat.PanelBuilder {
	return statPanel("Pending runs",
		"Runs whose pods are not scheduled yet (sum of batchwatch_backlog_runs with state pending). Pending runs that stay point at missing capacity, unsatisfiable node selectors or resource requests larger than any node.",
		units.Short,
		query(fmt.Sprintf("sum(%s) or vector(0)", s.backlog("batchwatch_backlog_runs", `state="pending"`)), "pending"),
		neutral())
}

func backlogTable(s selectors, cfg Config) *table.PanelBuilder {
	return tablePanel("Queues",
		backlogDescription("One row per namespace, kind and queue: queued and pending runs (batchwatch_backlog_runs) and the oldest wait (batchwatch_backlog_oldest_wait_seconds), in seconds", cfg),
		[]column{
			{header: "Queued", expr: fmt.Sprintf("sum by (%s) (%s)", s.by("namespace", "kind", "queue"), s.backlog("batchwatch_backlog_runs", `state="queued"`)), unit: units.Short},
			{header: "Pending", expr: fmt.Sprintf("sum by (%s) (%s)", s.by("namespace", "kind", "queue"), s.backlog("batchwatch_backlog_runs", `state="pending"`)), unit: units.Short},
			{header: "Oldest wait", expr: fmt.Sprintf("max by (%s) (%s)", s.by("namespace", "kind", "queue"), s.backlog("batchwatch_backlog_oldest_wait_seconds")), unit: units.Seconds, scale: backlogScale(cfg)},
		}).
		Height(8)
}

func waitingRunsByQueue(s selectors) *timeseries.PanelBuilder {
	return timeseriesPanel("Runs waiting by queue and state",
		"Runs waiting to start per queue and state (batchwatch_backlog_runs). A queue whose line keeps rising cannot keep up with the runs submitted to it; pending runs that stay point at capacity or scheduling constraints.",
		units.Short,
		query(fmt.Sprintf("sum by (%s) (%s)", s.by("namespace", "queue", "state"), s.backlog("batchwatch_backlog_runs")), "{{namespace}}/{{queue}} {{state}}"))
}

func oldestWaitByQueue(s selectors, cfg Config) *timeseries.PanelBuilder {
	return withThresholdLines(
		timeseriesPanel("Oldest wait by queue",
			backlogDescription("Longest wait among the runs waiting in each queue (batchwatch_backlog_oldest_wait_seconds), in seconds", cfg),
			units.Seconds,
			query(fmt.Sprintf("max by (%s) (%s)", s.by("namespace", "kind", "queue"), s.backlog("batchwatch_backlog_oldest_wait_seconds")), "{{namespace}}/{{queue}} {{kind}}")),
		backlogScale(cfg))
}
