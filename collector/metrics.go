package collector

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "batchwatch"

// metricType names the Prometheus type of a family for docs/metrics.md.
type metricType string

const (
	gaugeType     metricType = "gauge"
	counterType   metricType = "counter"
	histogramType metricType = "histogram"
)

// family describes one metric family: the descriptor used on the scrape path
// and the facts docs/metrics.md lists for it.
type family struct {
	name   string
	typ    metricType
	help   string
	labels []string
	desc   *prometheus.Desc
}

// families lists every family batchwatch exports, in the order of
// docs/metrics.md. Self-metrics are listed too, although instrumented ones
// are registered by their own collectors.
var families []*family

func newFamily(name string, typ metricType, help string, labels ...string) *prometheus.Desc {
	fullName := prometheus.BuildFQName(namespace, "", name)
	desc := prometheus.NewDesc(fullName, help, labels, nil)
	families = append(families, &family{name: fullName, typ: typ, help: help, labels: labels, desc: desc})
	return desc
}

var (
	scheduleLabels = []string{"namespace", "kind", "name"}
	workloadLabels = []string{"namespace", "kind", "workload"}
	runLabels      = []string{"namespace", "kind", "name", "workload"}
)

func with(base []string, extra ...string) []string {
	return append(append([]string{}, base...), extra...)
}

// Schedule families, one series per CronJob (or other scheduled object).
var (
	scheduleInfoDesc = newFamily("schedule_info", gaugeType,
		"Static schedule spec: the cron expression, the time zone it is evaluated in and the concurrency policy; value 1.",
		with(scheduleLabels, "schedule", "timezone", "concurrency_policy")...)
	scheduleSuspendedDesc = newFamily("schedule_suspended", gaugeType,
		"Whether the schedule is suspended (spec.suspend), 1 or 0.",
		scheduleLabels...)
	scheduleInvalidDesc = newFamily("schedule_invalid", gaugeType,
		"Whether the cron expression or time zone cannot be parsed, in which case the controller never starts a run; 1 or 0.",
		with(scheduleLabels, "reason")...)
	scheduleLastScheduledDesc = newFamily("schedule_last_scheduled_timestamp_seconds", gaugeType,
		"Time the controller last scheduled a run (status.lastScheduleTime), in Unix seconds.",
		scheduleLabels...)
	scheduleLastSuccessDesc = newFamily("schedule_last_success_timestamp_seconds", gaugeType,
		"Time the latest successful run finished (status.lastSuccessfulTime or the newest retained succeeded run), in Unix seconds.",
		scheduleLabels...)
	scheduleNextDesc = newFamily("schedule_next_timestamp_seconds", gaugeType,
		"Next slot after now, derived from the cron expression in the schedule's time zone, in Unix seconds; absent while suspended.",
		scheduleLabels...)
	scheduleIntervalDesc = newFamily("schedule_interval_seconds", gaugeType,
		"Length of the slot interval that contains now (next slot minus the latest slot at or before now), derived from the cron expression, in seconds.",
		scheduleLabels...)
	scheduleMissedDesc = newFamily("schedule_missed_runs", gaugeType,
		"Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.",
		with(scheduleLabels, "reason")...)
	scheduleOverdueDesc = newFamily("schedule_overdue_seconds", gaugeType,
		"Now minus the oldest missed slot, derived from the cron expression and status, in seconds; 0 when no slot is missed.",
		scheduleLabels...)
	scheduleSkippedDesc = newFamily("schedule_skipped_runs_total", counterType,
		"Slots passed over without a run, counted once when status.lastScheduleTime moved past them while batchwatch watched.",
		with(scheduleLabels, "reason")...)
	scheduleActiveDesc = newFamily("schedule_active_runs", gaugeType,
		"Runs of the schedule that have not finished.",
		scheduleLabels...)
)

// Workload families, one series per recurring workload.
var (
	workloadLastRunFailedDesc = newFamily("workload_last_run_failed", gaugeType,
		"Whether the latest finished run of the workload failed, 1 or 0.",
		workloadLabels...)
	workloadConsecutiveFailuresDesc = newFamily("workload_consecutive_failures", gaugeType,
		"Failed finished runs since the latest successful one, among the runs the cluster retains.",
		workloadLabels...)
)

// Run families, one series per active run only, so that cardinality follows
// the runs in flight and not the history.
var (
	runDeadlineUtilizationDesc = newFamily("run_deadline_utilization_ratio", gaugeType,
		"Elapsed time divided by the run's active deadline (Job and Workflow activeDeadlineSeconds), for active runs that have one; a ratio.",
		runLabels...)
	runElapsedDesc = newFamily("run_elapsed_seconds", gaugeType,
		"Time since the run started (Job status.startTime, Workflow status.startedAt, SparkApplication last submission), for active runs, in seconds.",
		runLabels...)
	runRetriesDesc = newFamily("run_retries", gaugeType,
		"Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.",
		runLabels...)
	runRetryLimitDesc = newFamily("run_retry_limit", gaugeType,
		"Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.",
		runLabels...)
)

// Finished-run families, aggregated per workload and fed once per run UID.
var (
	runsFinishedDesc = newFamily("runs_finished_total", counterType,
		"Runs that finished while batchwatch watched, by outcome and the reason of the final condition.",
		with(workloadLabels, "outcome", "reason")...)
	runDurationDesc = newFamily("run_duration_seconds", histogramType,
		"Duration of runs that finished while batchwatch watched, from status.startTime to completion, in seconds.",
		with(workloadLabels, "outcome")...)
	podFailuresDesc = newFamily("pod_failures_total", counterType,
		"Failed pods and container restarts of runs while batchwatch watched, by reason (OOMKilled, Error, DeadlineExceeded, Evicted, Disrupted, ...) and exit code.",
		with(workloadLabels, "reason", "exit_code")...)
)

// Backlog and checklist families.
var (
	backlogRunsDesc = newFamily("backlog_runs", gaugeType,
		"Runs waiting to start: state queued for suspended or Kueue-queued runs, pending for runs whose pods are not scheduled.",
		"namespace", "kind", "queue", "state")
	backlogOldestWaitDesc = newFamily("backlog_oldest_wait_seconds", gaugeType,
		"Longest wait among the runs waiting to start, since creation, suspension or pod creation, in seconds.",
		"namespace", "kind", "queue")
	specCheckFailedDesc = newFamily("spec_check_failed", gaugeType,
		"A batch checklist item the spec does not meet (no_deadline, no_backoff_limit, no_ttl, no_resource_limits, no_starting_deadline); value 1.",
		"namespace", "kind", "name", "check")
)

// Self-metric families of the exporter.
var (
	informerSyncedDesc = newFamily("informer_synced", gaugeType,
		"Whether the informer cache of the resource has synced, 1 or 0.",
		"resource")
	cachedObjectsDesc = newFamily("cached_objects", gaugeType,
		"Objects held in the informer cache of the resource.",
		"resource")
	collectorSuccessDesc = newFamily("collector_success", gaugeType,
		"Whether the last scrape of the collector emitted object series, 1 or 0; 0 until its informers have synced, absent while an optional engine is not installed.",
		"collector")
	scrapeDurationDesc = newFamily("scrape_duration_seconds", gaugeType,
		"Time the collector took to compute the last scrape, in seconds.",
		"collector")
	informerEventsDesc = newFamily("informer_events_total", counterType,
		"Informer events received, by resource and event (add, update, delete).",
		"resource", "event")
	watchErrorsDesc = newFamily("watch_errors_total", counterType,
		"Errors of the informer's list and watch calls, by resource.",
		"resource")
	unexpectedObjectsDesc = newFamily("unexpected_objects_total", counterType,
		"Custom resource versions received with an unexpected shape, by resource and reason: invalid_field when a field batchwatch reads has the wrong type and the object is skipped, unknown_phase when its phase or state is not one batchwatch knows and the run counts as active.",
		"resource", "reason")
	buildInfoFamily = newFamily("build_info", gaugeType,
		"A metric with a constant '1' value labeled by version, revision, branch, goversion from which batchwatch was built, and the goos and goarch for the build.",
		"version", "revision", "branch", "goversion", "goos", "goarch", "tags")
)

// MetricNames returns the name of every family batchwatch exports. A
// histogram's name is its base name, without _bucket, _sum or _count.
func MetricNames() []string {
	names := make([]string, 0, len(families))
	for _, f := range families {
		names = append(names, f.name)
	}
	return names
}

// MetricsDoc renders docs/metrics.md from the family list, so the reference
// cannot drift from what the collector describes.
func MetricsDoc() []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Code generated by batchwatch generate. DO NOT EDIT. -->\n\n")
	b.WriteString("# Metrics\n\n")
	b.WriteString("Every family batchwatch exports. `namespace`, `kind` and `name` identify the object a series describes;\n")
	b.WriteString("run-level and aggregated series carry `workload`. Series of a run exist only while it is active;\n")
	b.WriteString("finished runs are counted per workload. Enumerated labels have fixed value sets: reasons outside the known\n")
	b.WriteString("set read `other`, and `exit_code` is a process exit code from 0 to 255 or `other`.\n\n")
	b.WriteString("| Metric | Type | Labels | Help |\n| --- | --- | --- | --- |\n")
	for _, f := range families {
		labels := make([]string, len(f.labels))
		for i, l := range f.labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.name, f.typ, strings.Join(labels, ", "), strings.ReplaceAll(f.help, "|", "\\|"))
	}
	b.WriteString(engineSources)
	b.WriteString(knownGaps)
	return b.Bytes()
}

// engineSources lists the fields each engine's adapter reads, because the
// HELP texts name the batch/v1 fields only.
const engineSources = `
## Sources per engine

The same families describe every engine. Where a HELP text names a batch/v1 field, the other engines
read these:

| Value | CronJob and Job | CronWorkflow and Workflow (` + "`argoproj.io/v1alpha1`" + `) | ScheduledSparkApplication and SparkApplication (` + "`sparkoperator.k8s.io/v1beta2`" + `) |
| --- | --- | --- | --- |
| schedule | ` + "`spec.schedule`, `spec.timeZone`" + ` | ` + "`spec.schedule`, else `spec.schedules` joined with \", \"; `spec.timezone`" + ` | ` + "`spec.schedule`, `spec.timeZone`" + ` |
| last scheduled | ` + "`status.lastScheduleTime`" + ` | ` + "`status.lastScheduledTime`" + ` | ` + "`status.lastRun`" + `, the time the run started |
| starting deadline | ` + "`spec.startingDeadlineSeconds`" + ` | ` + "`spec.startingDeadlineSeconds`" + ` | none; ` + "`--schedule-grace`" + ` applies |
| suspended | ` + "`spec.suspend`" + ` | ` + "`spec.suspend`, or `status.phase` Stopped" + ` | ` + "`spec.suspend`" + ` |
| run start and finish | ` + "`status.startTime`" + `, the Complete or Failed condition | ` + "`status.startedAt`, `status.finishedAt`" + ` | ` + "`status.lastSubmissionAttemptTime`, `status.terminationTime`" + ` |
| deadline | ` + "`spec.activeDeadlineSeconds`" + ` | ` + "`spec.activeDeadlineSeconds`" + ` | none, so no deadline utilization |
| retries | ` + "`status.failed`" + ` and restarts | failed children of the Retry node with the most of them | ` + "`status.executionAttempts`" + ` - 1, or ` + "`status.submissionAttempts`" + ` - 1 while SUBMISSION_FAILED |
| retry limit | ` + "`spec.backoffLimit`" + ` | ` + "`retryStrategy.limit`" + ` of that node's template, else of the workflow; 0 without a retryStrategy | ` + "`onFailureRetries`" + ` (` + "`onSubmissionFailureRetries`" + ` while SUBMISSION_FAILED) for OnFailure, 0 for Never, none for Always |
| workload | CronJob, else ` + "`app.kubernetes.io/name`" + `, else the ` + "`generateName`" + ` prefix | CronWorkflow, else the WorkflowTemplate, else the ` + "`generateName`" + ` prefix | ScheduledSparkApplication, else the ` + "`generateName`" + ` prefix, else the name |
| waiting to start | suspended (queued), pods not scheduled (pending) | phase Pending or not yet seen (pending) | SUBMITTED or not yet seen (pending), SUSPENDED (queued) |
| failure reason | the Failed condition's reason | Failed or Error, the phase | SubmissionFailed when nothing ran, else Failed |

Objects of these custom resources that do not have the documented shape are counted in
` + "`batchwatch_unexpected_objects_total`" + `. A field of the wrong type skips the object, and an
unknown phase counts its run as active.
`

const knownGaps = `
## Known gaps

- ` + "`batchwatch_schedule_skipped_runs_total`" + ` counts only slots passed over while batchwatch was running
  and watching the schedule; ` + "`batchwatch evaluate`" + ` reads no history and reports it as 0.
- Finished-run counters and histograms start empty at every start of batchwatch: a restart does not
  replay the runs kept in the cluster.
- ` + "`batchwatch_runs_finished_total`" + `, ` + "`batchwatch_pod_failures_total`" + ` and the duration histogram create a
  series when its first run or pod is counted, so ` + "`increase()`" + ` misses that first count of each new
  label set. The skipped-slot counters do not have this gap: they exist from 0 for every valid schedule.
- A Workflow whose node status the Argo controller offloaded to its database
  (` + "`status.offloadNodeStatusVersion`" + `) reports 0 retries.
- A ScheduledSparkApplication that the operator marked FailedValidation keeps that state after its
  spec is fixed and starts no run. batchwatch reports such a schedule as valid, with missed runs.
`

// Reasons of batchwatch_unexpected_objects_total.
const (
	// UnexpectedInvalidField is a field of the wrong type, such as a string
	// where a number belongs or a timestamp that does not parse. The object
	// is skipped.
	UnexpectedInvalidField = "invalid_field"
	// UnexpectedUnknownPhase is a phase or state outside the values the
	// engine documents. The run counts as active.
	UnexpectedUnknownPhase = "unknown_phase"
)

// UnexpectedObjects counts the custom resource versions that do not have the
// shape their engine documents. Informer transforms add to it once per
// version received; it is safe for concurrent use.
type UnexpectedObjects struct {
	mu     sync.Mutex
	counts map[unexpectedKey]uint64
}

type unexpectedKey struct {
	resource, reason string
}

// NewUnexpectedObjects returns an empty counter.
func NewUnexpectedObjects() *UnexpectedObjects {
	return &UnexpectedObjects{counts: map[unexpectedKey]uint64{}}
}

// Add counts one object version of the resource, such as workflows, with
// the reason, UnexpectedInvalidField or UnexpectedUnknownPhase.
func (u *UnexpectedObjects) Add(resource, reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.counts[unexpectedKey{resource: resource, reason: reason}]++
}

// Describe sends the descriptor of batchwatch_unexpected_objects_total.
func (u *UnexpectedObjects) Describe(ch chan<- *prometheus.Desc) {
	ch <- unexpectedObjectsDesc
}

// Collect emits one series per resource and reason counted so far; none
// before the first unexpected object.
func (u *UnexpectedObjects) Collect(ch chan<- prometheus.Metric) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, n := range u.counts {
		emit(ch, unexpectedObjectsDesc, prometheus.CounterValue, float64(n), k.resource, k.reason)
	}
}
