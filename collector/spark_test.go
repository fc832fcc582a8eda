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

func decodeSparkApplicationYAML(t *testing.T, manifest string) (*SparkApplication, string) {
	t.Helper()
	objects := objectsFromYAML(t, manifest)
	require.Len(t, objects, 1)
	app, unexpected, err := DecodeSparkApplication(objects[0])
	require.NoError(t, err)
	return app, unexpected
}

func TestSparkApplicationRun(t *testing.T) {
	tests := []struct {
		name          string
		spec          string
		status        string
		wantState     RunState
		wantBacklog   string
		wantReason    string
		wantRetries   int32
		wantLimit     *int32
		wantStarted   string
		wantFinished  string
		wantWaitingAt string
	}{
		{
			name:          "not yet seen by the operator",
			status:        "{}",
			wantState:     RunWaiting,
			wantBacklog:   BacklogPending,
			wantWaitingAt: "2026-12-04T09:00:00Z",
		},
		{
			name:          "submitted waits for its driver",
			status:        `{applicationState: {state: SUBMITTED}, submissionAttempts: 1, executionAttempts: 1, lastSubmissionAttemptTime: "2026-12-04T09:05:00Z"}`,
			wantState:     RunWaiting,
			wantBacklog:   BacklogPending,
			wantStarted:   "2026-12-04T09:05:00Z",
			wantWaitingAt: "2026-12-04T09:05:00Z",
		},
		{
			name:        "running on its second attempt",
			spec:        `{restartPolicy: {type: OnFailure, onFailureRetries: 3, onSubmissionFailureRetries: 5}}`,
			status:      `{applicationState: {state: RUNNING}, submissionAttempts: 1, executionAttempts: 2, lastSubmissionAttemptTime: "2026-12-04T09:30:00Z"}`,
			wantState:   RunActive,
			wantRetries: 1,
			wantLimit:   ptr.To[int32](3),
			wantStarted: "2026-12-04T09:30:00Z",
		},
		{
			name:        "pending rerun keeps retrying",
			spec:        `{restartPolicy: {type: OnFailure, onFailureRetries: 2}}`,
			status:      `{applicationState: {state: PENDING_RERUN}, executionAttempts: 2, lastSubmissionAttemptTime: null}`,
			wantState:   RunActive,
			wantRetries: 1,
			wantLimit:   ptr.To[int32](2),
		},
		{
			name:        "failed submission retried by its policy",
			spec:        `{restartPolicy: {type: OnFailure, onSubmissionFailureRetries: 3}}`,
			status:      `{applicationState: {state: SUBMISSION_FAILED, errorMessage: "quota exceeded"}, submissionAttempts: 2, lastSubmissionAttemptTime: "2026-12-04T09:10:00Z"}`,
			wantState:   RunActive,
			wantRetries: 1,
			wantLimit:   ptr.To[int32](3),
		},
		{
			name:         "failed submission without retries left",
			spec:         `{restartPolicy: {type: OnFailure, onSubmissionFailureRetries: 1}}`,
			status:       `{applicationState: {state: SUBMISSION_FAILED}, submissionAttempts: 2, lastSubmissionAttemptTime: "2026-12-04T09:10:00Z"}`,
			wantState:    RunFailed,
			wantReason:   "SubmissionFailed",
			wantFinished: "2026-12-04T09:10:00Z",
		},
		{
			name:         "failed submission with restart policy Never",
			status:       `{applicationState: {state: SUBMISSION_FAILED}, submissionAttempts: 1, lastSubmissionAttemptTime: "2026-12-04T09:10:00Z"}`,
			wantState:    RunFailed,
			wantReason:   "SubmissionFailed",
			wantFinished: "2026-12-04T09:10:00Z",
		},
		{
			name:         "completed",
			status:       `{applicationState: {state: COMPLETED}, executionAttempts: 1, lastSubmissionAttemptTime: "2026-12-04T09:00:05Z", terminationTime: "2026-12-04T09:40:00Z"}`,
			wantState:    RunSucceeded,
			wantStarted:  "2026-12-04T09:00:05Z",
			wantFinished: "2026-12-04T09:40:00Z",
		},
		{
			name:         "failed after its attempts",
			spec:         `{restartPolicy: {type: OnFailure, onFailureRetries: 1}}`,
			status:       `{applicationState: {state: FAILED, errorMessage: "driver container failed"}, executionAttempts: 2, lastSubmissionAttemptTime: "2026-12-04T09:20:00Z", terminationTime: "2026-12-04T09:25:00Z"}`,
			wantState:    RunFailed,
			wantReason:   "Failed",
			wantStarted:  "2026-12-04T09:20:00Z",
			wantFinished: "2026-12-04T09:25:00Z",
		},
		{
			name:          "suspended waits in its queue",
			status:        `{applicationState: {state: SUSPENDED}}`,
			wantState:     RunWaiting,
			wantBacklog:   BacklogQueued,
			wantWaitingAt: "2026-12-04T09:00:00Z",
		},
		{
			name:        "restart policy Always has no limit",
			spec:        `{restartPolicy: {type: Always}}`,
			status:      `{applicationState: {state: RUNNING}, executionAttempts: 4, lastSubmissionAttemptTime: "2026-12-04T09:50:00Z"}`,
			wantState:   RunActive,
			wantRetries: 3,
			wantStarted: "2026-12-04T09:50:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			if spec == "" {
				spec = "{}"
			}
			app, unexpected := decodeSparkApplicationYAML(t, `
kind: SparkApplication
metadata: {name: pi, namespace: spark, uid: uid-pi, creationTimestamp: "2026-12-04T09:00:00Z"}
spec: `+spec+`
status: `+tt.status+"\n")
			require.Empty(t, unexpected)

			r := runFromSparkApplication(app, nil)

			assert.Equal(t, tt.wantState, r.State, "state")
			assert.Equal(t, tt.wantBacklog, r.BacklogState, "backlog state")
			assert.Equal(t, tt.wantReason, r.Reason, "reason")
			assert.Equal(t, tt.wantRetries, r.Retries, "retries")
			if tt.wantState == RunActive {
				assert.Equal(t, tt.wantLimit, r.RetryLimit, "retry limit")
			}
			assert.Equal(t, tt.wantStarted, formatOptional(r.Started), "started")
			assert.Equal(t, tt.wantFinished, formatOptional(r.Finished), "finished")
			if tt.wantWaitingAt != "" {
				assert.Equal(t, tt.wantWaitingAt, formatOptional(&r.WaitingSince), "waiting since")
			}
		})
	}
}

// formatOptional formats a time in UTC as RFC 3339, empty for nil.
func formatOptional(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func TestSparkWorkload(t *testing.T) {
	scheduleUIDs := map[string]types.UID{"spark/nightly-pi": "uid-nightly-pi"}
	tests := []struct {
		name         string
		metadata     string
		wantWorkload WorkloadRef
		wantSchedule types.UID
	}{
		{
			name: "owner ScheduledSparkApplication",
			metadata: `{name: nightly-pi-1764835200000000000, namespace: spark, ownerReferences: [
  {apiVersion: sparkoperator.k8s.io/v1beta2, kind: ScheduledSparkApplication, name: nightly-pi, uid: uid-owner, blockOwnerDeletion: true}]}`,
			wantWorkload: WorkloadRef{Kind: "ScheduledSparkApplication", Name: "nightly-pi"},
			wantSchedule: "uid-owner",
		},
		{
			name:         "scheduled app label only",
			metadata:     `{name: nightly-pi-1764835200000000000, namespace: spark, labels: {sparkoperator.k8s.io/scheduled-app-name: nightly-pi}}`,
			wantWorkload: WorkloadRef{Kind: "ScheduledSparkApplication", Name: "nightly-pi"},
			wantSchedule: "uid-nightly-pi",
		},
		{
			name:         "generateName prefix",
			metadata:     `{name: adhoc-query-k2j4h, generateName: adhoc-query-, namespace: spark}`,
			wantWorkload: WorkloadRef{Kind: "SparkApplication", Name: "adhoc-query"},
		},
		{
			name:         "application name",
			metadata:     `{name: pi, namespace: spark}`,
			wantWorkload: WorkloadRef{Kind: "SparkApplication", Name: "pi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, _ := decodeSparkApplicationYAML(t, "kind: SparkApplication\nmetadata: "+tt.metadata+"\n")

			workload, scheduleUID := sparkWorkload(app, scheduleUIDs)

			assert.Equal(t, tt.wantWorkload, workload, "workload")
			assert.Equal(t, tt.wantSchedule, scheduleUID, "schedule UID")
		})
	}
}

func TestDecodeSparkApplicationUnexpected(t *testing.T) {
	app, unexpected := decodeSparkApplicationYAML(t, `
kind: SparkApplication
metadata: {name: pi, namespace: spark}
status: {applicationState: {state: HIBERNATING}, executionAttempts: 1}
`)
	assert.Equal(t, UnexpectedUnknownPhase, unexpected)
	assert.Equal(t, RunActive, runFromSparkApplication(app, nil).State, "unknown state counts as active")

	for name, manifest := range map[string]string{
		"attempts as text":         "kind: SparkApplication\nmetadata: {name: a}\nstatus: {executionAttempts: two}\n",
		"termination time as text": "kind: SparkApplication\nmetadata: {name: a}\nstatus: {terminationTime: later}\n",
		"state as a list":          "kind: SparkApplication\nmetadata: {name: a}\nstatus: {applicationState: [RUNNING]}\n",
		"retries as text":          "kind: SparkApplication\nmetadata: {name: a}\nspec: {restartPolicy: {onFailureRetries: many}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := DecodeSparkApplication(objectsFromYAML(t, manifest)[0])
			assert.Error(t, err)
		})
	}

	_, err := DecodeScheduledSparkApplication(objectsFromYAML(t, "kind: ScheduledSparkApplication\nmetadata: {name: a}\nspec: {suspend: sometimes}\n")[0])
	assert.Error(t, err)
}

// sparkNamespace is a namespace dump at 2026-12-04T10:00:00Z: a nightly
// ScheduledSparkApplication in Tokyo with its latest run, an application
// waiting for a rerun and one whose submission failed for good.
const sparkNamespace = `
kind: ScheduledSparkApplication
metadata: {name: nightly-pi, namespace: spark, uid: uid-nightly-pi, creationTimestamp: "2026-11-01T00:00:00Z"}
spec:
  schedule: "0 3 * * *"
  timeZone: Asia/Tokyo
  concurrencyPolicy: Forbid
  template: {type: Scala, mode: cluster, restartPolicy: {type: Never}}
status:
  lastRun: "2026-12-03T18:00:01Z"
  nextRun: "2026-12-04T18:00:00Z"
  scheduleState: Scheduled
---
kind: SparkApplication
metadata:
  name: nightly-pi-1764784801000000000
  namespace: spark
  uid: uid-run-1
  creationTimestamp: "2026-12-03T18:00:01Z"
  labels: {sparkoperator.k8s.io/scheduled-app-name: nightly-pi}
  ownerReferences: [{apiVersion: sparkoperator.k8s.io/v1beta2, kind: ScheduledSparkApplication, name: nightly-pi, uid: uid-nightly-pi}]
spec: {type: Scala, restartPolicy: {type: Never}}
status:
  applicationState: {state: COMPLETED}
  submissionAttempts: 1
  executionAttempts: 1
  lastSubmissionAttemptTime: "2026-12-03T18:00:02Z"
  terminationTime: "2026-12-03T18:42:00Z"
---
kind: SparkApplication
metadata: {name: sessionize, namespace: spark, uid: uid-sessionize, creationTimestamp: "2026-12-04T08:00:00Z"}
spec:
  type: Python
  restartPolicy: {type: OnFailure, onFailureRetries: 3, onFailureRetryInterval: 60}
  batchSchedulerOptions: {queue: etl}
status:
  applicationState: {state: PENDING_RERUN}
  executionAttempts: 3
---
kind: SparkApplication
metadata: {name: export, namespace: spark, uid: uid-export, creationTimestamp: "2026-12-04T09:00:00Z"}
spec: {type: Scala, restartPolicy: {type: OnFailure, onSubmissionFailureRetries: 2}}
status:
  applicationState: {state: SUBMISSION_FAILED, errorMessage: "failed to run spark-submit"}
  submissionAttempts: 3
  lastSubmissionAttemptTime: "2026-12-04T09:12:00Z"
`

func TestSparkCollector(t *testing.T) {
	f := newCRDFixture(t, "2026-12-04T10:00:00Z", time.Time{}, objectsFromYAML(t, sparkNamespace)...)

	want := `
# HELP batchwatch_run_retries Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.
# TYPE batchwatch_run_retries gauge
batchwatch_run_retries{kind="SparkApplication",name="sessionize",namespace="spark",workload="sessionize"} 2
# HELP batchwatch_run_retry_limit Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.
# TYPE batchwatch_run_retry_limit gauge
batchwatch_run_retry_limit{kind="SparkApplication",name="sessionize",namespace="spark",workload="sessionize"} 3
# HELP batchwatch_runs_finished_total Runs that finished while batchwatch watched, by outcome and the reason of the final condition.
# TYPE batchwatch_runs_finished_total counter
batchwatch_runs_finished_total{kind="SparkApplication",namespace="spark",outcome="failed",reason="SubmissionFailed",workload="export"} 1
batchwatch_runs_finished_total{kind="SparkApplication",namespace="spark",outcome="succeeded",reason="",workload="nightly-pi"} 1
# HELP batchwatch_schedule_info Static schedule spec: the cron expression, the time zone it is evaluated in and the concurrency policy; value 1.
# TYPE batchwatch_schedule_info gauge
batchwatch_schedule_info{concurrency_policy="Forbid",kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark",schedule="0 3 * * *",timezone="Asia/Tokyo"} 1
# HELP batchwatch_schedule_last_success_timestamp_seconds Time the latest successful run finished (status.lastSuccessfulTime or the newest retained succeeded run), in Unix seconds.
# TYPE batchwatch_schedule_last_success_timestamp_seconds gauge
batchwatch_schedule_last_success_timestamp_seconds{kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark"} 1.79632332e+09
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark",reason="not_started"} 0
# HELP batchwatch_workload_last_run_failed Whether the latest finished run of the workload failed, 1 or 0.
# TYPE batchwatch_workload_last_run_failed gauge
batchwatch_workload_last_run_failed{kind="ScheduledSparkApplication",namespace="spark",workload="nightly-pi"} 0
batchwatch_workload_last_run_failed{kind="SparkApplication",namespace="spark",workload="export"} 1
`
	err := testutil.CollectAndCompare(f.collector, strings.NewReader(want),
		"batchwatch_run_retries", "batchwatch_run_retry_limit", "batchwatch_runs_finished_total", "batchwatch_schedule_info",
		"batchwatch_schedule_last_success_timestamp_seconds", "batchwatch_schedule_missed_runs", "batchwatch_workload_last_run_failed")
	assert.NoError(t, err)
}

func TestScheduledSparkApplicationMissedSlot(t *testing.T) {
	// The operator started the 03:00 Tokyo run of the 3rd a second late.
	// No run started on the 4th, so that slot is missed once grace passed.
	f := newCRDFixture(t, "2026-12-04T18:30:00Z", time.Time{}, objectsFromYAML(t, sparkNamespace)...)

	want := `
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark",reason="not_started"} 1
# HELP batchwatch_schedule_overdue_seconds Now minus the oldest missed slot, derived from the cron expression and status, in seconds; 0 when no slot is missed.
# TYPE batchwatch_schedule_overdue_seconds gauge
batchwatch_schedule_overdue_seconds{kind="ScheduledSparkApplication",name="nightly-pi",namespace="spark"} 1800
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want),
		"batchwatch_schedule_missed_runs", "batchwatch_schedule_overdue_seconds"))
}

func TestScheduledSparkApplicationSkippedSlots(t *testing.T) {
	objects := objectsFromYAML(t, `
kind: ScheduledSparkApplication
metadata: {name: hourly, namespace: spark, uid: uid-hourly, creationTimestamp: "2026-11-01T00:00:00Z"}
spec: {schedule: "0 * * * *"}
status: {lastRun: "2026-12-04T07:00:02Z"}
`)
	f := newCRDFixture(t, "2026-12-04T11:00:00Z", time.Time{}, objects...)
	old := decodeCustomResource(t, objects[0]).(*ScheduledSparkApplication)

	// The next run starts a few seconds after its slot: nothing skipped.
	next := *old
	next.lastRun = atPtr("2026-12-04T08:00:03Z")
	f.spark.OnScheduledSparkApplication(old, &next)
	// Then the operator is down until 11:00: 09:00 and 10:00 are skipped.
	late := next
	late.lastRun = atPtr("2026-12-04T11:00:04Z")
	f.spark.OnScheduledSparkApplication(&next, &late)

	want := `
# HELP batchwatch_schedule_skipped_runs_total Slots passed over without a run, counted once when status.lastScheduleTime moved past them while batchwatch watched.
# TYPE batchwatch_schedule_skipped_runs_total counter
batchwatch_schedule_skipped_runs_total{kind="ScheduledSparkApplication",name="hourly",namespace="spark",reason="concurrency_forbidden"} 0
batchwatch_schedule_skipped_runs_total{kind="ScheduledSparkApplication",name="hourly",namespace="spark",reason="not_started"} 2
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_schedule_skipped_runs_total"))
}

func TestSparkRerunCountedAgain(t *testing.T) {
	objects := objectsFromYAML(t, `
kind: SparkApplication
metadata: {name: report, namespace: spark, uid: uid-report, creationTimestamp: "2026-12-04T07:00:00Z"}
status: {applicationState: {state: COMPLETED}, executionAttempts: 1, lastSubmissionAttemptTime: "2026-12-04T07:00:01Z", terminationTime: "2026-12-04T07:30:00Z"}
`)
	f := newCRDFixture(t, "2026-12-04T10:00:00Z", at("2026-12-04T06:00:00Z"), objects...)
	completed := decodeCustomResource(t, objects[0]).(*SparkApplication)

	// A changed spec invalidates the finished application and reruns it.
	invalidating := *completed
	invalidating.state, invalidating.terminated = sparkInvalidating, nil
	failed := invalidating
	failed.state, failed.executionAttempts = sparkFailed, 1
	failed.lastSubmission, failed.terminated = atPtr("2026-12-04T08:00:00Z"), atPtr("2026-12-04T08:05:00Z")
	f.spark.OnSparkApplication(completed, &invalidating)
	f.spark.OnSparkApplication(&invalidating, &failed)
	f.spark.OnSparkApplication(&failed, &failed)

	want := `
# HELP batchwatch_runs_finished_total Runs that finished while batchwatch watched, by outcome and the reason of the final condition.
# TYPE batchwatch_runs_finished_total counter
batchwatch_runs_finished_total{kind="SparkApplication",namespace="spark",outcome="failed",reason="Failed",workload="report"} 1
batchwatch_runs_finished_total{kind="SparkApplication",namespace="spark",outcome="succeeded",reason="",workload="report"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_runs_finished_total"))
}

func TestUnexpectedObjectsCounter(t *testing.T) {
	counter := NewUnexpectedObjects()
	assert.Equal(t, 0, testutil.CollectAndCount(counter), "no series before the first object")

	counter.Add("workflows", UnexpectedInvalidField)
	counter.Add("workflows", UnexpectedInvalidField)
	counter.Add("sparkapplications", UnexpectedUnknownPhase)

	want := `
# HELP batchwatch_unexpected_objects_total Custom resource versions received with an unexpected shape, by resource and reason: invalid_field when a field batchwatch reads has the wrong type and the object is skipped, unknown_phase when its phase or state is not one batchwatch knows and the run counts as active.
# TYPE batchwatch_unexpected_objects_total counter
batchwatch_unexpected_objects_total{reason="invalid_field",resource="workflows"} 2
batchwatch_unexpected_objects_total{reason="unknown_phase",resource="sparkapplications"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(counter, strings.NewReader(want), "batchwatch_unexpected_objects_total"))
	problems, err := testutil.CollectAndLint(counter)
	require.NoError(t, err)
	assert.Empty(t, problems)
}
