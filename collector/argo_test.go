package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func decodeWorkflowYAML(t *testing.T, manifest string) *Workflow {
	t.Helper()
	objects := objectsFromYAML(t, manifest)
	require.Len(t, objects, 1)
	w, unexpected, err := DecodeWorkflow(objects[0])
	require.NoError(t, err)
	require.Empty(t, unexpected)
	return w
}

func TestWorkflowRetries(t *testing.T) {
	tests := []struct {
		name      string
		manifest  string
		wantRetry int32
		wantLimit *int32
	}{
		{
			name: "failed attempts of one retry node",
			manifest: `
kind: Workflow
metadata: {name: etl-7d2kq, namespace: data}
spec:
  entrypoint: main
  templates:
  - name: main
  - name: extract
    retryStrategy: {limit: "3", retryPolicy: Always}
status:
  phase: Running
  nodes:
    etl-7d2kq: {type: Steps, phase: Running, templateName: main, children: [etl-7d2kq-1]}
    etl-7d2kq-1: {type: StepGroup, phase: Running, children: [etl-7d2kq-2]}
    etl-7d2kq-2: {type: Retry, phase: Running, templateName: extract, children: [etl-7d2kq-3, etl-7d2kq-4, etl-7d2kq-5]}
    etl-7d2kq-3: {type: Pod, phase: Failed, templateName: extract}
    etl-7d2kq-4: {type: Pod, phase: Error, templateName: extract}
    etl-7d2kq-5: {type: Pod, phase: Running, templateName: extract}
    etl-7d2kq-6: {type: StepGroup, phase: Failed}
    etl-7d2kq-7: {type: Pod, phase: Failed, templateName: notify}
`,
			wantRetry: 2,
			wantLimit: ptr.To[int32](3),
		},
		{
			name: "busiest retry node with its own limit",
			manifest: `
kind: Workflow
metadata: {name: etl-8k3mz, namespace: data}
spec:
  entrypoint: main
  templates:
  - name: extract
    retryStrategy: {limit: 2}
  - name: load
    retryStrategy: {limit: 5}
status:
  phase: Running
  nodes:
    a: {type: Retry, phase: Succeeded, templateName: load, children: [a1, a2]}
    a1: {type: Pod, phase: Failed, templateName: load}
    a2: {type: Pod, phase: Succeeded, templateName: load}
    b: {type: Retry, phase: Running, templateName: extract, children: [b1, b2, b3]}
    b1: {type: Pod, phase: Failed, templateName: extract}
    b2: {type: Pod, phase: Failed, templateName: extract}
    b3: {type: Pod, phase: Pending, templateName: extract}
`,
			wantRetry: 2,
			wantLimit: ptr.To[int32](2),
		},
		{
			name: "workflow strategy for templates without one",
			manifest: `
kind: Workflow
metadata: {name: etl-x, namespace: data}
spec:
  entrypoint: main
  retryStrategy: {limit: 4}
  templates:
  - name: main
status:
  phase: Running
  nodes:
    r: {type: Retry, phase: Running, templateName: main, children: [r1, r2]}
    r1: {type: Pod, phase: Failed, templateName: main}
    r2: {type: Pod, phase: Running, templateName: main}
`,
			wantRetry: 1,
			wantLimit: ptr.To[int32](4),
		},
		{
			name: "entry template limit before any retry",
			manifest: `
kind: Workflow
metadata: {name: etl-y, namespace: data}
spec:
  entrypoint: main
  templates:
  - name: main
    retryStrategy: {limit: 1}
status: {phase: Running}
`,
			wantRetry: 0,
			wantLimit: ptr.To[int32](1),
		},
		{
			name: "no retry strategy allows none",
			manifest: `
kind: Workflow
metadata: {name: etl-z, namespace: data}
spec:
  entrypoint: main
  templates: [{name: main}]
status: {phase: Running}
`,
			wantRetry: 0,
			wantLimit: ptr.To[int32](0),
		},
		{
			name: "strategy without limit has none",
			manifest: `
kind: Workflow
metadata: {name: etl-w, namespace: data}
spec:
  entrypoint: main
  templates:
  - name: main
    retryStrategy: {retryPolicy: OnError}
status: {phase: Running}
`,
			wantRetry: 0,
			wantLimit: nil,
		},
		{
			name: "limit from a parameter is unknown",
			manifest: `
kind: Workflow
metadata: {name: etl-v, namespace: data}
spec:
  entrypoint: main
  templates:
  - name: main
    retryStrategy: {limit: "{{workflow.parameters.retries}}"}
status: {phase: Running}
`,
			wantRetry: 0,
			wantLimit: nil,
		},
		{
			name: "templates of the stored WorkflowTemplate",
			manifest: `
kind: Workflow
metadata: {name: nightly-etl-4tq9x, namespace: data}
spec:
  workflowTemplateRef: {name: nightly-etl}
status:
  phase: Running
  storedWorkflowTemplateSpec:
    entrypoint: main
    templates:
    - name: main
      retryStrategy: {limit: 2}
`,
			wantRetry: 0,
			wantLimit: ptr.To[int32](2),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := decodeWorkflowYAML(t, tt.manifest)

			assert.Equal(t, tt.wantRetry, w.retries, "retries")
			assert.Equal(t, tt.wantLimit, w.retryLimit, "retry limit")
		})
	}
}

func TestWorkflowWorkload(t *testing.T) {
	cronUIDs := map[string]types.UID{"data/nightly": "uid-nightly"}
	tests := []struct {
		name         string
		metadata     string
		spec         string
		wantWorkload WorkloadRef
		wantSchedule types.UID
	}{
		{
			name: "owner CronWorkflow",
			metadata: `{name: nightly-1764892800, namespace: data, ownerReferences: [
  {apiVersion: argoproj.io/v1alpha1, kind: CronWorkflow, name: nightly, uid: uid-owner, controller: true}]}`,
			wantWorkload: WorkloadRef{Kind: "CronWorkflow", Name: "nightly"},
			wantSchedule: "uid-owner",
		},
		{
			name:         "CronWorkflow label only",
			metadata:     `{name: nightly-1764892800, namespace: data, labels: {workflows.argoproj.io/cron-workflow: nightly}}`,
			wantWorkload: WorkloadRef{Kind: "CronWorkflow", Name: "nightly"},
			wantSchedule: "uid-nightly",
		},
		{
			name:         "WorkflowTemplate reference",
			metadata:     `{name: report-abc12, generateName: report-, namespace: data}`,
			spec:         `{workflowTemplateRef: {name: monthly-report}}`,
			wantWorkload: WorkloadRef{Kind: "WorkflowTemplate", Name: "monthly-report"},
		},
		{
			name:         "ClusterWorkflowTemplate reference",
			metadata:     `{name: report-abc12, namespace: data}`,
			spec:         `{workflowTemplateRef: {name: shared-report, clusterScope: true}}`,
			wantWorkload: WorkloadRef{Kind: "ClusterWorkflowTemplate", Name: "shared-report"},
		},
		{
			name:         "WorkflowTemplate label",
			metadata:     `{name: report-abc12, namespace: data, labels: {workflows.argoproj.io/workflow-template: monthly-report}}`,
			wantWorkload: WorkloadRef{Kind: "WorkflowTemplate", Name: "monthly-report"},
		},
		{
			name:         "generateName prefix",
			metadata:     `{name: backfill-x7k2p, generateName: backfill-, namespace: data}`,
			wantWorkload: WorkloadRef{Kind: "Workflow", Name: "backfill"},
		},
		{
			name:         "workflow name",
			metadata:     `{name: one-off, namespace: data}`,
			wantWorkload: WorkloadRef{Kind: "Workflow", Name: "one-off"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			if spec == "" {
				spec = "{}"
			}
			w := decodeWorkflowYAML(t, "kind: Workflow\nmetadata: "+tt.metadata+"\nspec: "+spec+"\n")

			workload, scheduleUID := workflowWorkload(w, cronUIDs)

			assert.Equal(t, tt.wantWorkload, workload, "workload")
			assert.Equal(t, tt.wantSchedule, scheduleUID, "schedule UID")
		})
	}
}

func TestDecodeWorkflowUnexpected(t *testing.T) {
	objects := objectsFromYAML(t, `
kind: Workflow
metadata: {name: future, namespace: data}
status: {phase: Hibernating, startedAt: "2026-12-04T09:00:00Z"}
`)
	w, unexpected, err := DecodeWorkflow(objects[0])
	require.NoError(t, err)
	assert.Equal(t, UnexpectedUnknownPhase, unexpected)
	assert.Equal(t, RunActive, runFromWorkflow(w, nil).State, "unknown phase counts as active")

	for name, manifest := range map[string]string{
		"deadline as text":     "kind: Workflow\nmetadata: {name: a}\nspec: {activeDeadlineSeconds: ten}\n",
		"start time as text":   "kind: Workflow\nmetadata: {name: a}\nstatus: {startedAt: yesterday}\n",
		"status as text":       "kind: Workflow\nmetadata: {name: a}\nstatus: done\n",
		"nodes as a list":      "kind: Workflow\nmetadata: {name: a}\nstatus: {nodes: [a, b]}\n",
		"retry limit as float": "kind: Workflow\nmetadata: {name: a}\nspec: {retryStrategy: {limit: [3]}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := DecodeWorkflow(objectsFromYAML(t, manifest)[0])
			assert.Error(t, err)
		})
	}
}

func TestDecodeCronWorkflow(t *testing.T) {
	objects := objectsFromYAML(t, `
kind: CronWorkflow
metadata: {name: legacy, namespace: data}
spec:
  schedule: "0 3 * * *"
  schedules: ["0 4 * * *"]
`)
	cw, err := DecodeCronWorkflow(objects[0])
	require.NoError(t, err)
	assert.Equal(t, []string{"0 3 * * *"}, cw.schedules, "spec.schedule wins over spec.schedules")
	assert.Nil(t, cw.lastScheduled, "no status means never scheduled")

	_, err = DecodeCronWorkflow(objectsFromYAML(t, "kind: CronWorkflow\nmetadata: {name: a}\nspec: {startingDeadlineSeconds: soon}\n")[0])
	assert.Error(t, err)
}

// The objects below are a namespace dump at 2026-12-04T10:00:00Z: a
// CronWorkflow with two schedules in Berlin and its workflows, one of which
// failed and the next of which failed too and was then retried by hand
// until it succeeded.
const (
	argoCronWorkflow = `
kind: CronWorkflow
metadata: {name: nightly, namespace: data, uid: uid-nightly, creationTimestamp: "2026-11-01T00:00:00Z"}
spec:
  schedules: ["0 8 * * *", "0 20 * * *"]
  timezone: Europe/Berlin
  startingDeadlineSeconds: 600
  concurrencyPolicy: Forbid
  workflowSpec:
    entrypoint: main
    activeDeadlineSeconds: 7200
status:
  lastScheduledTime: "2026-12-04T07:00:00Z"
`
	argoFailedWorkflow = `
kind: Workflow
metadata:
  name: nightly-1764788400
  namespace: data
  uid: uid-wf-old
  creationTimestamp: "2026-12-03T19:00:00Z"
  labels: {workflows.argoproj.io/cron-workflow: nightly}
  annotations: {workflows.argoproj.io/scheduled-time: "2026-12-03T20:00:00+01:00"}
spec: {entrypoint: main}
status: {phase: Failed, startedAt: "2026-12-03T19:00:01Z", finishedAt: "2026-12-03T19:20:00Z"}
`
	argoRetriedWorkflow = `
kind: Workflow
metadata:
  name: nightly-1764831600
  namespace: data
  uid: uid-wf-retried
  creationTimestamp: "2026-12-04T07:00:00Z"
  labels: {workflows.argoproj.io/cron-workflow: nightly}
  annotations: {workflows.argoproj.io/scheduled-time: "2026-12-04T08:00:00+01:00"}
  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: CronWorkflow, name: nightly, uid: uid-nightly, controller: true}]
spec: {entrypoint: main}
status: {phase: Succeeded, startedAt: "2026-12-04T07:00:01Z", finishedAt: "2026-12-04T09:10:00Z"}
`
)

var argoNamespace = argoCronWorkflow + "---" + argoFailedWorkflow + "---" + argoRetriedWorkflow

func TestArgoCollector(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		now      string
		metrics  []string
		want     string
	}{
		{
			name:     "cron workflow with two schedules",
			manifest: argoNamespace,
			now:      "2026-12-04T10:00:00Z",
			metrics: []string{
				"batchwatch_schedule_info", "batchwatch_schedule_next_timestamp_seconds", "batchwatch_schedule_interval_seconds",
				"batchwatch_schedule_missed_runs", "batchwatch_schedule_last_success_timestamp_seconds", "batchwatch_spec_check_failed",
			},
			want: `
# HELP batchwatch_schedule_info Static schedule spec: the cron expression, the time zone it is evaluated in and the concurrency policy; value 1.
# TYPE batchwatch_schedule_info gauge
batchwatch_schedule_info{concurrency_policy="Forbid",kind="CronWorkflow",name="nightly",namespace="data",schedule="0 8 * * *, 0 20 * * *",timezone="Europe/Berlin"} 1
# HELP batchwatch_schedule_interval_seconds Length of the slot interval that contains now (next slot minus the latest slot at or before now), derived from the cron expression, in seconds.
# TYPE batchwatch_schedule_interval_seconds gauge
batchwatch_schedule_interval_seconds{kind="CronWorkflow",name="nightly",namespace="data"} 43200
# HELP batchwatch_schedule_last_success_timestamp_seconds Time the latest successful run finished (status.lastSuccessfulTime or the newest retained succeeded run), in Unix seconds.
# TYPE batchwatch_schedule_last_success_timestamp_seconds gauge
batchwatch_schedule_last_success_timestamp_seconds{kind="CronWorkflow",name="nightly",namespace="data"} 1.7963754e+09
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="CronWorkflow",name="nightly",namespace="data",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="CronWorkflow",name="nightly",namespace="data",reason="not_started"} 0
# HELP batchwatch_schedule_next_timestamp_seconds Next slot after now, derived from the cron expression in the schedule's time zone, in Unix seconds; absent while suspended.
# TYPE batchwatch_schedule_next_timestamp_seconds gauge
batchwatch_schedule_next_timestamp_seconds{kind="CronWorkflow",name="nightly",namespace="data"} 1.7964108e+09
`,
		},
		{
			name:     "manual retry that succeeded clears the failure",
			manifest: argoNamespace,
			now:      "2026-12-04T10:00:00Z",
			metrics:  []string{"batchwatch_workload_last_run_failed", "batchwatch_workload_consecutive_failures"},
			want: `
# HELP batchwatch_workload_consecutive_failures Failed finished runs since the latest successful one, among the runs the cluster retains.
# TYPE batchwatch_workload_consecutive_failures gauge
batchwatch_workload_consecutive_failures{kind="CronWorkflow",namespace="data",workload="nightly"} 0
# HELP batchwatch_workload_last_run_failed Whether the latest finished run of the workload failed, 1 or 0.
# TYPE batchwatch_workload_last_run_failed gauge
batchwatch_workload_last_run_failed{kind="CronWorkflow",namespace="data",workload="nightly"} 0
`,
		},
		{
			name: "slot without a workflow after a stale lastScheduledTime",
			manifest: strings.Replace(argoCronWorkflow, `lastScheduledTime: "2026-12-04T07:00:00Z"`,
				`lastScheduledTime: "2026-12-03T07:00:00Z"`, 1) + "---" + argoRetriedWorkflow,
			now:     "2026-12-04T10:00:00Z",
			metrics: []string{"batchwatch_schedule_missed_runs", "batchwatch_schedule_overdue_seconds"},
			// The 20:00 slot of the 3rd has no retained workflow; the 08:00
			// slot of the 4th has one, although lastScheduledTime lags.
			want: `
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="CronWorkflow",name="nightly",namespace="data",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="CronWorkflow",name="nightly",namespace="data",reason="not_started"} 1
# HELP batchwatch_schedule_overdue_seconds Now minus the oldest missed slot, derived from the cron expression and status, in seconds; 0 when no slot is missed.
# TYPE batchwatch_schedule_overdue_seconds gauge
batchwatch_schedule_overdue_seconds{kind="CronWorkflow",name="nightly",namespace="data"} 54000
`,
		},
		{
			name: "running workflow near its deadline",
			manifest: `
kind: Workflow
metadata: {name: backfill-q2w8r, generateName: backfill-, namespace: data, uid: uid-backfill, creationTimestamp: "2026-12-04T08:00:00Z"}
spec:
  entrypoint: main
  activeDeadlineSeconds: 10800
  templates:
  - name: main
    retryStrategy: {limit: 3}
status:
  phase: Running
  startedAt: "2026-12-04T07:36:00Z"
  nodes:
    r: {type: Retry, phase: Running, templateName: main, children: [r1, r2, r3]}
    r1: {type: Pod, phase: Failed, templateName: main}
    r2: {type: Pod, phase: Failed, templateName: main}
    r3: {type: Pod, phase: Running, templateName: main}
`,
			now: "2026-12-04T10:00:00Z",
			metrics: []string{
				"batchwatch_run_elapsed_seconds", "batchwatch_run_deadline_utilization_ratio",
				"batchwatch_run_retries", "batchwatch_run_retry_limit",
			},
			want: `
# HELP batchwatch_run_deadline_utilization_ratio Elapsed time divided by the run's active deadline (Job and Workflow activeDeadlineSeconds), for active runs that have one; a ratio.
# TYPE batchwatch_run_deadline_utilization_ratio gauge
batchwatch_run_deadline_utilization_ratio{kind="Workflow",name="backfill-q2w8r",namespace="data",workload="backfill"} 0.8
# HELP batchwatch_run_elapsed_seconds Time since the run started (Job status.startTime, Workflow status.startedAt, SparkApplication last submission), for active runs, in seconds.
# TYPE batchwatch_run_elapsed_seconds gauge
batchwatch_run_elapsed_seconds{kind="Workflow",name="backfill-q2w8r",namespace="data",workload="backfill"} 8640
# HELP batchwatch_run_retries Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.
# TYPE batchwatch_run_retries gauge
batchwatch_run_retries{kind="Workflow",name="backfill-q2w8r",namespace="data",workload="backfill"} 2
# HELP batchwatch_run_retry_limit Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.
# TYPE batchwatch_run_retry_limit gauge
batchwatch_run_retry_limit{kind="Workflow",name="backfill-q2w8r",namespace="data",workload="backfill"} 3
`,
		},
		{
			name: "pending workflow waits in the backlog",
			manifest: `
kind: Workflow
metadata: {name: report-9x8c7, namespace: data, uid: uid-report, creationTimestamp: "2026-12-04T09:45:00Z",
  labels: {workflows.argoproj.io/workflow-template: monthly-report}}
spec: {workflowTemplateRef: {name: monthly-report}}
status: {phase: Pending}
`,
			now:     "2026-12-04T10:00:00Z",
			metrics: []string{"batchwatch_backlog_runs", "batchwatch_backlog_oldest_wait_seconds"},
			want: `
# HELP batchwatch_backlog_oldest_wait_seconds Longest wait among the runs waiting to start, since creation, suspension or pod creation, in seconds.
# TYPE batchwatch_backlog_oldest_wait_seconds gauge
batchwatch_backlog_oldest_wait_seconds{kind="Workflow",namespace="data",queue=""} 900
# HELP batchwatch_backlog_runs Runs waiting to start: state queued for suspended or Kueue-queued runs, pending for runs whose pods are not scheduled.
# TYPE batchwatch_backlog_runs gauge
batchwatch_backlog_runs{kind="Workflow",namespace="data",queue="",state="pending"} 1
`,
		},
		{
			name: "failed template workflow fails its workload",
			manifest: `
kind: Workflow
metadata: {name: report-1, namespace: data, uid: uid-r1, creationTimestamp: "2026-12-04T08:00:00Z"}
spec: {workflowTemplateRef: {name: monthly-report}}
status: {phase: Succeeded, startedAt: "2026-12-04T08:00:00Z", finishedAt: "2026-12-04T08:30:00Z"}
---
kind: Workflow
metadata: {name: report-2, namespace: data, uid: uid-r2, creationTimestamp: "2026-12-04T09:00:00Z"}
spec: {workflowTemplateRef: {name: monthly-report}}
status: {phase: Error, startedAt: "2026-12-04T09:00:00Z", finishedAt: "2026-12-04T09:05:00Z"}
`,
			now:     "2026-12-04T10:00:00Z",
			metrics: []string{"batchwatch_workload_last_run_failed", "batchwatch_runs_finished_total"},
			want: `
# HELP batchwatch_runs_finished_total Runs that finished while batchwatch watched, by outcome and the reason of the final condition.
# TYPE batchwatch_runs_finished_total counter
batchwatch_runs_finished_total{kind="Workflow",namespace="data",outcome="failed",reason="Error",workload="monthly-report"} 1
batchwatch_runs_finished_total{kind="Workflow",namespace="data",outcome="succeeded",reason="",workload="monthly-report"} 1
# HELP batchwatch_workload_last_run_failed Whether the latest finished run of the workload failed, 1 or 0.
# TYPE batchwatch_workload_last_run_failed gauge
batchwatch_workload_last_run_failed{kind="WorkflowTemplate",namespace="data",workload="monthly-report"} 1
`,
		},
		{
			name: "stopped cron workflow misses nothing",
			manifest: `
kind: CronWorkflow
metadata: {name: until-done, namespace: data, uid: uid-u, creationTimestamp: "2026-11-01T00:00:00Z"}
spec: {schedule: "*/10 * * * *", startingDeadlineSeconds: 60, workflowSpec: {activeDeadlineSeconds: 300}}
status: {phase: Stopped, lastScheduledTime: "2026-12-04T06:00:00Z"}
`,
			now:     "2026-12-04T10:00:00Z",
			metrics: []string{"batchwatch_schedule_suspended", "batchwatch_schedule_missed_runs", "batchwatch_schedule_next_timestamp_seconds"},
			want: `
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="CronWorkflow",name="until-done",namespace="data",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="CronWorkflow",name="until-done",namespace="data",reason="not_started"} 0
# HELP batchwatch_schedule_suspended Whether the schedule is suspended (spec.suspend), 1 or 0.
# TYPE batchwatch_schedule_suspended gauge
batchwatch_schedule_suspended{kind="CronWorkflow",name="until-done",namespace="data"} 1
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCRDFixture(t, tt.now, time.Time{}, objectsFromYAML(t, tt.manifest)...)
			for _, name := range tt.metrics {
				require.Contains(t, tt.want+"\n"+strings.Join(absentAllowed, "\n"), name, "want must mention every compared metric or list it as absent")
			}
			assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(tt.want), tt.metrics...))
		})
	}
}

func TestCronWorkflowChecks(t *testing.T) {
	f := newCRDFixture(t, "2026-12-04T10:00:00Z", time.Time{}, objectsFromYAML(t, `
kind: CronWorkflow
metadata: {name: bare, namespace: data, uid: uid-bare, creationTimestamp: "2026-12-04T09:00:00Z"}
spec: {schedule: "0 * * * *"}
`)...)

	want := `
# HELP batchwatch_spec_check_failed A batch checklist item the spec does not meet (no_deadline, no_backoff_limit, no_ttl, no_resource_limits, no_starting_deadline); value 1.
# TYPE batchwatch_spec_check_failed gauge
batchwatch_spec_check_failed{check="no_deadline",kind="CronWorkflow",name="bare",namespace="data"} 1
batchwatch_spec_check_failed{check="no_starting_deadline",kind="CronWorkflow",name="bare",namespace="data"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_spec_check_failed"))
}

func TestManualRetryCountedOnce(t *testing.T) {
	failed := objectsFromYAML(t, `
kind: Workflow
metadata: {name: nightly-1, namespace: data, uid: uid-n1, creationTimestamp: "2026-12-04T07:00:00Z",
  labels: {workflows.argoproj.io/cron-workflow: nightly}}
status: {phase: Failed, startedAt: "2026-12-04T07:00:01Z", finishedAt: "2026-12-04T07:30:00Z"}
`)[0]
	f := newCRDFixture(t, "2026-12-04T10:00:00Z", at("2026-12-04T06:00:00Z"), failed)
	old := decodeCustomResource(t, failed).(*Workflow)

	// argo retry resets the failed nodes and runs the same object again.
	running := *old
	running.phase, running.finishedAt = workflowRunning, nil
	succeeded := running
	succeeded.phase, succeeded.finishedAt = workflowSucceeded, atPtr("2026-12-04T09:00:00Z")
	f.argo.OnWorkflow(old, &running)
	f.argo.OnWorkflow(&running, &succeeded)
	// A resync delivers the same version again.
	f.argo.OnWorkflow(&succeeded, &succeeded)

	want := `
# HELP batchwatch_runs_finished_total Runs that finished while batchwatch watched, by outcome and the reason of the final condition.
# TYPE batchwatch_runs_finished_total counter
batchwatch_runs_finished_total{kind="Workflow",namespace="data",outcome="failed",reason="Failed",workload="nightly"} 1
batchwatch_runs_finished_total{kind="Workflow",namespace="data",outcome="succeeded",reason="",workload="nightly"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_runs_finished_total"))
}

func TestCronWorkflowSkippedSlots(t *testing.T) {
	objects := objectsFromYAML(t, `
kind: CronWorkflow
metadata: {name: hourly, namespace: data, uid: uid-hourly, creationTimestamp: "2026-11-01T00:00:00Z"}
spec: {schedules: ["0 * * * *", "30 9 * * *"]}
status: {lastScheduledTime: "2026-12-04T07:00:00Z"}
`)
	f := newCRDFixture(t, "2026-12-04T11:00:00Z", time.Time{}, objects...)
	old := decodeCustomResource(t, objects[0]).(*CronWorkflow)

	updated := *old
	updated.lastScheduled = atPtr("2026-12-04T11:00:00Z")
	f.argo.OnCronWorkflow(old, &updated)
	f.argo.OnCronWorkflow(&updated, &updated)

	// 08:00, 09:00, 09:30 and 10:00 passed without a run.
	want := `
# HELP batchwatch_schedule_skipped_runs_total Slots passed over without a run, counted once when status.lastScheduleTime moved past them while batchwatch watched.
# TYPE batchwatch_schedule_skipped_runs_total counter
batchwatch_schedule_skipped_runs_total{kind="CronWorkflow",name="hourly",namespace="data",reason="concurrency_forbidden"} 0
batchwatch_schedule_skipped_runs_total{kind="CronWorkflow",name="hourly",namespace="data",reason="not_started"} 4
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_schedule_skipped_runs_total"))
}
