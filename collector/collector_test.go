package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestCollector(t *testing.T) {
	tests := []struct {
		name    string
		objects []any
		now     string
		metrics []string
		want    string
	}{
		{
			name: "cronjob with a missed slot",
			objects: []any{
				newCronJob("hourly", "0 * * * *", lastScheduled("2026-12-04T10:00:00Z")),
			},
			now: "2026-12-04T11:30:00Z",
			metrics: []string{
				"batchwatch_schedule_info", "batchwatch_schedule_suspended", "batchwatch_schedule_invalid",
				"batchwatch_schedule_last_scheduled_timestamp_seconds", "batchwatch_schedule_next_timestamp_seconds",
				"batchwatch_schedule_interval_seconds", "batchwatch_schedule_missed_runs", "batchwatch_schedule_overdue_seconds",
				"batchwatch_schedule_active_runs",
			},
			want: `
# HELP batchwatch_schedule_active_runs Runs of the schedule that have not finished.
# TYPE batchwatch_schedule_active_runs gauge
batchwatch_schedule_active_runs{kind="CronJob",name="hourly",namespace="batch"} 0
# HELP batchwatch_schedule_info Static schedule spec: the cron expression, the time zone it is evaluated in and the concurrency policy; value 1.
# TYPE batchwatch_schedule_info gauge
batchwatch_schedule_info{concurrency_policy="Allow",kind="CronJob",name="hourly",namespace="batch",schedule="0 * * * *",timezone="UTC"} 1
# HELP batchwatch_schedule_interval_seconds Length of the slot interval that contains now (next slot minus the latest slot at or before now), derived from the cron expression, in seconds.
# TYPE batchwatch_schedule_interval_seconds gauge
batchwatch_schedule_interval_seconds{kind="CronJob",name="hourly",namespace="batch"} 3600
# HELP batchwatch_schedule_invalid Whether the cron expression or time zone cannot be parsed, in which case the controller never starts a run; 1 or 0.
# TYPE batchwatch_schedule_invalid gauge
batchwatch_schedule_invalid{kind="CronJob",name="hourly",namespace="batch",reason=""} 0
# HELP batchwatch_schedule_last_scheduled_timestamp_seconds Time the controller last scheduled a run (status.lastScheduleTime), in Unix seconds.
# TYPE batchwatch_schedule_last_scheduled_timestamp_seconds gauge
batchwatch_schedule_last_scheduled_timestamp_seconds{kind="CronJob",name="hourly",namespace="batch"} 1.7963784e+09
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="CronJob",name="hourly",namespace="batch",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="CronJob",name="hourly",namespace="batch",reason="not_started"} 1
# HELP batchwatch_schedule_next_timestamp_seconds Next slot after now, derived from the cron expression in the schedule's time zone, in Unix seconds; absent while suspended.
# TYPE batchwatch_schedule_next_timestamp_seconds gauge
batchwatch_schedule_next_timestamp_seconds{kind="CronJob",name="hourly",namespace="batch"} 1.7963856e+09
# HELP batchwatch_schedule_overdue_seconds Now minus the oldest missed slot, derived from the cron expression and status, in seconds; 0 when no slot is missed.
# TYPE batchwatch_schedule_overdue_seconds gauge
batchwatch_schedule_overdue_seconds{kind="CronJob",name="hourly",namespace="batch"} 1800
# HELP batchwatch_schedule_suspended Whether the schedule is suspended (spec.suspend), 1 or 0.
# TYPE batchwatch_schedule_suspended gauge
batchwatch_schedule_suspended{kind="CronJob",name="hourly",namespace="batch"} 0
`,
		},
		{
			name: "invalid schedule reports only its spec",
			objects: []any{
				newCronJob("broken", "0 25 * * *", lastScheduled("2026-12-04T10:00:00Z")),
			},
			now: "2026-12-04T11:30:00Z",
			metrics: []string{
				"batchwatch_schedule_invalid", "batchwatch_schedule_next_timestamp_seconds",
				"batchwatch_schedule_missed_runs", "batchwatch_schedule_overdue_seconds",
			},
			want: `
# HELP batchwatch_schedule_invalid Whether the cron expression or time zone cannot be parsed, in which case the controller never starts a run; 1 or 0.
# TYPE batchwatch_schedule_invalid gauge
batchwatch_schedule_invalid{kind="CronJob",name="broken",namespace="batch",reason="invalid_schedule"} 1
`,
		},
		{
			name: "suspended cronjob has no next slot and misses nothing",
			objects: []any{
				newCronJob("paused", "0 * * * *", lastScheduled("2026-12-01T10:00:00Z"),
					func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) }),
			},
			now:     "2026-12-04T11:30:00Z",
			metrics: []string{"batchwatch_schedule_suspended", "batchwatch_schedule_next_timestamp_seconds", "batchwatch_schedule_missed_runs"},
			want: `
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="CronJob",name="paused",namespace="batch",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="CronJob",name="paused",namespace="batch",reason="not_started"} 0
# HELP batchwatch_schedule_suspended Whether the schedule is suspended (spec.suspend), 1 or 0.
# TYPE batchwatch_schedule_suspended gauge
batchwatch_schedule_suspended{kind="CronJob",name="paused",namespace="batch"} 1
`,
		},
		{
			name: "failed run followed by a success clears the workload",
			objects: []any{
				newCronJob("etl", "0 * * * *", lastScheduled("2026-12-04T11:00:00Z")),
				newJob("etl-1", ownedBy("etl"), started("2026-12-04T10:00:01Z"), failedPods(3),
					finished(batchv1.JobFailed, "BackoffLimitExceeded", "2026-12-04T10:05:00Z")),
				newJob("etl-2", ownedBy("etl"), started("2026-12-04T11:00:01Z"),
					finished(batchv1.JobComplete, "CompletionsReached", "2026-12-04T11:04:00Z")),
			},
			now:     "2026-12-04T11:30:00Z",
			metrics: []string{"batchwatch_workload_last_run_failed", "batchwatch_workload_consecutive_failures", "batchwatch_schedule_last_success_timestamp_seconds"},
			want: `
# HELP batchwatch_schedule_last_success_timestamp_seconds Time the latest successful run finished (status.lastSuccessfulTime or the newest retained succeeded run), in Unix seconds.
# TYPE batchwatch_schedule_last_success_timestamp_seconds gauge
batchwatch_schedule_last_success_timestamp_seconds{kind="CronJob",name="etl",namespace="batch"} 1.79638224e+09
# HELP batchwatch_workload_consecutive_failures Failed finished runs since the latest successful one, among the runs the cluster retains.
# TYPE batchwatch_workload_consecutive_failures gauge
batchwatch_workload_consecutive_failures{kind="CronJob",namespace="batch",workload="etl"} 0
# HELP batchwatch_workload_last_run_failed Whether the latest finished run of the workload failed, 1 or 0.
# TYPE batchwatch_workload_last_run_failed gauge
batchwatch_workload_last_run_failed{kind="CronJob",namespace="batch",workload="etl"} 0
`,
		},
		{
			name: "two failures after a success count as a streak",
			objects: []any{
				newJob("nightly-a", func(j *batchv1.Job) { j.GenerateName = "nightly-" }, started("2026-12-02T00:00:00Z"),
					finished(batchv1.JobComplete, "CompletionsReached", "2026-12-02T00:10:00Z")),
				newJob("nightly-b", func(j *batchv1.Job) { j.GenerateName = "nightly-" }, started("2026-12-03T00:00:00Z"),
					finished(batchv1.JobFailed, "DeadlineExceeded", "2026-12-03T01:00:00Z")),
				newJob("nightly-c", func(j *batchv1.Job) { j.GenerateName = "nightly-" }, started("2026-12-04T00:00:00Z"),
					finished(batchv1.JobFailed, "BackoffLimitExceeded", "2026-12-04T00:20:00Z")),
			},
			now:     "2026-12-04T11:30:00Z",
			metrics: []string{"batchwatch_workload_last_run_failed", "batchwatch_workload_consecutive_failures"},
			want: `
# HELP batchwatch_workload_consecutive_failures Failed finished runs since the latest successful one, among the runs the cluster retains.
# TYPE batchwatch_workload_consecutive_failures gauge
batchwatch_workload_consecutive_failures{kind="Job",namespace="batch",workload="nightly"} 2
# HELP batchwatch_workload_last_run_failed Whether the latest finished run of the workload failed, 1 or 0.
# TYPE batchwatch_workload_last_run_failed gauge
batchwatch_workload_last_run_failed{kind="Job",namespace="batch",workload="nightly"} 1
`,
		},
		{
			name: "active run values and retries under OnFailure",
			objects: func() []any {
				job := newJob("report", started("2026-12-04T10:00:00Z"), failedPods(1), func(j *batchv1.Job) {
					j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
				})
				return []any{job, newPod("report-a", job, podRestarted(2, 137, "OOMKilled"))}
			}(),
			now: "2026-12-04T10:45:00Z",
			metrics: []string{
				"batchwatch_run_elapsed_seconds", "batchwatch_run_deadline_utilization_ratio",
				"batchwatch_run_retries", "batchwatch_run_retry_limit",
			},
			want: `
# HELP batchwatch_run_deadline_utilization_ratio Elapsed time divided by the run's active deadline (Job and Workflow activeDeadlineSeconds), for active runs that have one; a ratio.
# TYPE batchwatch_run_deadline_utilization_ratio gauge
batchwatch_run_deadline_utilization_ratio{kind="Job",name="report",namespace="batch",workload="report"} 0.75
# HELP batchwatch_run_elapsed_seconds Time since the run started (Job status.startTime, Workflow status.startedAt, SparkApplication last submission), for active runs, in seconds.
# TYPE batchwatch_run_elapsed_seconds gauge
batchwatch_run_elapsed_seconds{kind="Job",name="report",namespace="batch",workload="report"} 2700
# HELP batchwatch_run_retries Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.
# TYPE batchwatch_run_retries gauge
batchwatch_run_retries{kind="Job",name="report",namespace="batch",workload="report"} 3
# HELP batchwatch_run_retry_limit Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.
# TYPE batchwatch_run_retry_limit gauge
batchwatch_run_retry_limit{kind="Job",name="report",namespace="batch",workload="report"} 3
`,
		},
		{
			name: "per-index budget reports the worst index",
			objects: func() []any {
				job := newJob("shards", started("2026-12-04T10:00:00Z"), failedPods(3), func(j *batchv1.Job) {
					j.Spec.BackoffLimit = nil
					j.Spec.BackoffLimitPerIndex = ptr.To[int32](2)
					j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				})
				index := func(i, failures string) podOption {
					return func(p *corev1.Pod) {
						p.Annotations = map[string]string{annotationIndex: i, annotationIndexFailure: failures}
					}
				}
				return []any{
					job,
					newPod("shards-0-a", job, index("0", "0"), podTerminated(1, "Error", "2026-12-04T10:01:00Z")),
					newPod("shards-1-a", job, index("1", "0"), podTerminated(1, "Error", "2026-12-04T10:01:00Z")),
					newPod("shards-1-b", job, index("1", "1"), podTerminated(1, "Error", "2026-12-04T10:02:00Z")),
					newPod("shards-1-c", job, index("1", "2")),
				}
			}(),
			now:     "2026-12-04T10:10:00Z",
			metrics: []string{"batchwatch_run_retries", "batchwatch_run_retry_limit", "batchwatch_spec_check_failed"},
			want: `
# HELP batchwatch_run_retries Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.
# TYPE batchwatch_run_retries gauge
batchwatch_run_retries{kind="Job",name="shards",namespace="batch",workload="shards"} 2
# HELP batchwatch_run_retry_limit Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.
# TYPE batchwatch_run_retry_limit gauge
batchwatch_run_retry_limit{kind="Job",name="shards",namespace="batch",workload="shards"} 2
`,
		},
		{
			name: "default backoffLimit is six and shows in the checklist",
			objects: []any{
				newJob("plain", started("2026-12-04T10:00:00Z"), func(j *batchv1.Job) {
					j.Spec.BackoffLimit = nil
					j.Spec.ActiveDeadlineSeconds = nil
					j.Spec.TTLSecondsAfterFinished = nil
					j.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
				}),
			},
			now:     "2026-12-04T10:10:00Z",
			metrics: []string{"batchwatch_run_retry_limit", "batchwatch_run_deadline_utilization_ratio", "batchwatch_spec_check_failed"},
			want: `
# HELP batchwatch_run_retry_limit Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.
# TYPE batchwatch_run_retry_limit gauge
batchwatch_run_retry_limit{kind="Job",name="plain",namespace="batch",workload="plain"} 6
# HELP batchwatch_spec_check_failed A batch checklist item the spec does not meet (no_deadline, no_backoff_limit, no_ttl, no_resource_limits, no_starting_deadline); value 1.
# TYPE batchwatch_spec_check_failed gauge
batchwatch_spec_check_failed{check="no_backoff_limit",kind="Job",name="plain",namespace="batch"} 1
batchwatch_spec_check_failed{check="no_deadline",kind="Job",name="plain",namespace="batch"} 1
batchwatch_spec_check_failed{check="no_resource_limits",kind="Job",name="plain",namespace="batch"} 1
batchwatch_spec_check_failed{check="no_ttl",kind="Job",name="plain",namespace="batch"} 1
`,
		},
		{
			name: "queued and pending runs form the backlog",
			objects: func() []any {
				queued := newJob("train", created("2026-12-04T09:00:00Z"), func(j *batchv1.Job) {
					j.Spec.Suspend = ptr.To(true)
					j.Labels = map[string]string{labelKueueQueue: "team-a"}
				})
				queued2 := newJob("train-2", created("2026-12-04T09:30:00Z"), func(j *batchv1.Job) {
					j.Spec.Suspend = ptr.To(true)
					j.Labels = map[string]string{labelKueueQueue: "team-a"}
				})
				pending := newJob("big", started("2026-12-04T10:00:00Z"))
				return []any{queued, queued2, pending, newPod("big-a", pending, podUnscheduled())}
			}(),
			now:     "2026-12-04T10:30:00Z",
			metrics: []string{"batchwatch_backlog_runs", "batchwatch_backlog_oldest_wait_seconds", "batchwatch_run_elapsed_seconds"},
			want: `
# HELP batchwatch_backlog_oldest_wait_seconds Longest wait among the runs waiting to start, since creation, suspension or pod creation, in seconds.
# TYPE batchwatch_backlog_oldest_wait_seconds gauge
batchwatch_backlog_oldest_wait_seconds{kind="Job",namespace="batch",queue=""} 1799
batchwatch_backlog_oldest_wait_seconds{kind="Job",namespace="batch",queue="team-a"} 5400
# HELP batchwatch_backlog_runs Runs waiting to start: state queued for suspended or Kueue-queued runs, pending for runs whose pods are not scheduled.
# TYPE batchwatch_backlog_runs gauge
batchwatch_backlog_runs{kind="Job",namespace="batch",queue="",state="pending"} 1
batchwatch_backlog_runs{kind="Job",namespace="batch",queue="team-a",state="queued"} 2
# HELP batchwatch_run_elapsed_seconds Time since the run started (Job status.startTime, Workflow status.startedAt, SparkApplication last submission), for active runs, in seconds.
# TYPE batchwatch_run_elapsed_seconds gauge
batchwatch_run_elapsed_seconds{kind="Job",name="big",namespace="batch",workload="big"} 1800
`,
		},
		{
			name: "failed pods count by reason and podFailurePolicy Ignore is left out",
			objects: func() []any {
				job := newJob("resilient", started("2026-12-04T10:00:00Z"), failedPods(2), func(j *batchv1.Job) {
					j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionIgnore,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
					}}}
				})
				disrupted := newPod("resilient-c", job, podTerminated(143, "Error", "2026-12-04T10:03:00Z"), func(p *corev1.Pod) {
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
				})
				evicted := newPod("resilient-d", job, func(p *corev1.Pod) {
					p.Status.Phase = corev1.PodFailed
					p.Status.Reason = "Evicted"
				})
				return []any{
					job,
					newPod("resilient-a", job, podTerminated(1, "Error", "2026-12-04T10:01:00Z")),
					newPod("resilient-b", job, podTerminated(137, "OOMKilled", "2026-12-04T10:02:00Z")),
					disrupted, evicted,
				}
			}(),
			now:     "2026-12-04T10:10:00Z",
			metrics: []string{"batchwatch_pod_failures_total"},
			want: `
# HELP batchwatch_pod_failures_total Failed pods and container restarts of runs while batchwatch watched, by reason (OOMKilled, Error, DeadlineExceeded, Evicted, Disrupted, ...) and exit code.
# TYPE batchwatch_pod_failures_total counter
batchwatch_pod_failures_total{exit_code="",kind="Job",namespace="batch",reason="Evicted",workload="resilient"} 1
batchwatch_pod_failures_total{exit_code="1",kind="Job",namespace="batch",reason="Error",workload="resilient"} 1
batchwatch_pod_failures_total{exit_code="137",kind="Job",namespace="batch",reason="OOMKilled",workload="resilient"} 1
`,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.now, time.Time{}, tt.objects...)
			for _, name := range tt.metrics {
				require.Contains(t, tt.want+"\n"+strings.Join(absentAllowed, "\n"), name, "want must mention every compared metric or list it as absent")
			}
			err := testutil.CollectAndCompare(f.collector, strings.NewReader(tt.want), tt.metrics...)
			assert.NoError(t, err)
		})
	}
}

// absentAllowed lists the compared metrics that a case may expect to be
// absent. The name filter of CollectAndCompare applies to both sides, so
// every other name must appear in want.
var absentAllowed = []string{
	"batchwatch_schedule_next_timestamp_seconds", "batchwatch_schedule_overdue_seconds",
	"batchwatch_schedule_missed_runs", "batchwatch_run_deadline_utilization_ratio", "batchwatch_spec_check_failed",
}

func TestCollectorNotSynced(t *testing.T) {
	f := newFixture("2026-12-04T11:30:00Z", time.Time{}, newCronJob("hourly", "0 * * * *"))
	f.synced = false

	want := `
# HELP batchwatch_collector_success Whether the last scrape of the collector emitted object series, 1 or 0; 0 until its informers have synced, absent while an optional engine is not installed.
# TYPE batchwatch_collector_success gauge
batchwatch_collector_success{collector="batch"} 0
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_collector_success"))
	assert.Equal(t, 0, testutil.CollectAndCount(f.collector, "batchwatch_schedule_info"), "no object series before sync")
}

func TestRecorderCountsOncePerRunAfterStart(t *testing.T) {
	since := at("2026-12-04T10:00:00Z")
	before := newJob("old", started("2026-12-04T09:00:00Z"), finished(batchv1.JobComplete, "CompletionsReached", "2026-12-04T09:30:00Z"))
	after := newJob("new", started("2026-12-04T10:00:00Z"), finished(batchv1.JobFailed, "DeadlineExceeded", "2026-12-04T10:30:00Z"))
	f := newFixture("2026-12-04T11:00:00Z", since, before, after)

	// A resync or relist delivers the same finished Job again.
	f.source.OnJob(after)

	want := `
# HELP batchwatch_runs_finished_total Runs that finished while batchwatch watched, by outcome and the reason of the final condition.
# TYPE batchwatch_runs_finished_total counter
batchwatch_runs_finished_total{kind="Job",namespace="batch",outcome="failed",reason="DeadlineExceeded",workload="new"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_runs_finished_total"))
	assert.Equal(t, 1, testutil.CollectAndCount(f.collector, "batchwatch_run_duration_seconds"))
}

func TestRecorderCountsNewRestartsOnly(t *testing.T) {
	since := at("2026-12-04T10:00:00Z")
	job := newJob("report", started("2026-12-04T09:00:00Z"), func(j *batchv1.Job) {
		j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	})
	// The pod predates the recorder: its two restarts are history.
	pod := newPod("report-a", job, podRestarted(2, 137, "OOMKilled"), func(p *corev1.Pod) {
		p.CreationTimestamp = *metaTime("2026-12-04T09:00:01Z")
	})
	f := newFixture("2026-12-04T11:00:00Z", since, job, pod)
	assert.Equal(t, 0, testutil.CollectAndCount(f.collector, "batchwatch_pod_failures_total"))

	restarted := pod.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 3
	f.source.OnPod(restarted)
	f.source.OnPod(restarted)

	want := `
# HELP batchwatch_pod_failures_total Failed pods and container restarts of runs while batchwatch watched, by reason (OOMKilled, Error, DeadlineExceeded, Evicted, Disrupted, ...) and exit code.
# TYPE batchwatch_pod_failures_total counter
batchwatch_pod_failures_total{exit_code="137",kind="Job",namespace="batch",reason="OOMKilled",workload="report"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_pod_failures_total"))
}

func TestSkippedRunsWhenLastScheduleTimeJumps(t *testing.T) {
	old := newCronJob("hourly", "0 * * * *", lastScheduled("2026-12-04T07:00:00Z"))
	f := newFixture("2026-12-04T11:00:00Z", time.Time{}, old)

	updated := old.DeepCopy()
	updated.Status.LastScheduleTime = metaTime("2026-12-04T11:00:00Z")
	f.source.OnCronJob(old, updated)
	// The same update delivered twice must not count twice.
	f.source.OnCronJob(updated, updated)

	want := `
# HELP batchwatch_schedule_skipped_runs_total Slots passed over without a run, counted once when status.lastScheduleTime moved past them while batchwatch watched.
# TYPE batchwatch_schedule_skipped_runs_total counter
batchwatch_schedule_skipped_runs_total{kind="CronJob",name="hourly",namespace="batch",reason="concurrency_forbidden"} 0
batchwatch_schedule_skipped_runs_total{kind="CronJob",name="hourly",namespace="batch",reason="not_started"} 3
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_schedule_skipped_runs_total"))
}

func TestCollectorLint(t *testing.T) {
	objects := []any{
		newCronJob("hourly", "0 * * * *", lastScheduled("2026-12-04T10:00:00Z")),
		newCronJob("broken", "0 25 * * *"),
		newJob("hourly-1", ownedBy("hourly"), started("2026-12-04T10:00:01Z"),
			finished(batchv1.JobFailed, "BackoffLimitExceeded", "2026-12-04T10:05:00Z")),
		newJob("queued", func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }),
		newJob("active", started("2026-12-04T10:00:00Z")),
	}
	objects = append(objects, newPod("hourly-1-a", objects[2].(*batchv1.Job), podTerminated(1, "Error", "2026-12-04T10:04:00Z")))
	f := newFixture("2026-12-04T11:30:00Z", time.Time{}, objects...)

	problems, err := testutil.CollectAndLint(f.collector)
	require.NoError(t, err)
	assert.Empty(t, problems)

	informers := NewInformerCollector(func() []InformerStats {
		return []InformerStats{{Resource: "jobs", Synced: true, Objects: 3, Events: map[string]uint64{"add": 3}}}
	})
	problems, err = testutil.CollectAndLint(informers)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestMetricsDocListsEveryFamily(t *testing.T) {
	doc := string(MetricsDoc())
	for _, name := range MetricNames() {
		assert.Contains(t, doc, "`"+name+"`")
	}
	assert.True(t, strings.HasPrefix(doc, "<!-- Code generated by batchwatch generate. DO NOT EDIT. -->"))
}

func TestRecorderCountsRunFinishedInStartSecond(t *testing.T) {
	// The API server stores whole seconds: a run that finished 0.7s before
	// the recorder started still reads as finished in the same second.
	since := at("2026-12-04T10:00:00Z").Add(700 * time.Millisecond)
	job := newJob("quick", started("2026-12-04T09:59:50Z"), finished(batchv1.JobComplete, "CompletionsReached", "2026-12-04T10:00:00Z"))

	f := newFixture("2026-12-04T10:01:00Z", since, job)

	assert.Equal(t, 1, testutil.CollectAndCount(f.collector, "batchwatch_runs_finished_total"))
}

func TestSkippedRunsBeforeFirstRunCountFromCreation(t *testing.T) {
	// Created at 07:10 while the controller was down; it started only the
	// 11:00 slot, dropping 08:00, 09:00 and 10:00.
	old := newCronJob("new", "0 * * * *", func(cj *batchv1.CronJob) { cj.CreationTimestamp = *metaTime("2026-12-04T07:10:00Z") })
	f := newFixture("2026-12-04T11:00:30Z", time.Time{}, old)

	updated := old.DeepCopy()
	updated.Status.LastScheduleTime = metaTime("2026-12-04T11:00:00Z")
	f.source.OnCronJob(old, updated)

	want := `
# HELP batchwatch_schedule_skipped_runs_total Slots passed over without a run, counted once when status.lastScheduleTime moved past them while batchwatch watched.
# TYPE batchwatch_schedule_skipped_runs_total counter
batchwatch_schedule_skipped_runs_total{kind="CronJob",name="new",namespace="batch",reason="concurrency_forbidden"} 0
batchwatch_schedule_skipped_runs_total{kind="CronJob",name="new",namespace="batch",reason="not_started"} 3
`
	assert.NoError(t, testutil.CollectAndCompare(f.collector, strings.NewReader(want), "batchwatch_schedule_skipped_runs_total"))
}
