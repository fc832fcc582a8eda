// Package collector derives batchwatch's metrics from Kubernetes batch
// objects: the model (Schedule, Run, Workload), the adapters that build it
// from each engine's objects, the schedule math and the Prometheus collector.
package collector
