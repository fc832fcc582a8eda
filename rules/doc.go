// Package rules builds batchwatch's Prometheus alerting and recording rules.
//
// The rules are Go code: one rule group per entity (schedule, workload, run,
// backlog) plus one for the exporter itself. Files renders them as a plain
// rule file that promtool and Prometheus read and as a PrometheusRule for the
// Prometheus Operator, after Validate has checked them.
package rules
