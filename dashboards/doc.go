// Package dashboards builds batchwatch's Grafana dashboards with the Grafana
// Foundation SDK and renders them as the committed JSON files and the
// ConfigMap that the Grafana sidecar loads.
//
// Each dashboard has its own file and builder function (Overview, Schedules,
// Runs, Backlog). Every query selects the exporter through Config.JobSelector
// and honours the cluster, namespace, kind and workload variables wherever the
// series carries the matching label.
package dashboards
