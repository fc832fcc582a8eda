package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestServeWiring(t *testing.T) {
	now := at(t, "2026-12-04T11:30:00Z")
	cronJob := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: "batch", UID: "cj-1",
			CreationTimestamp: metav1.NewTime(at(t, "2026-11-01T00:00:00Z"))},
		Spec:   batchv1.CronJobSpec{Schedule: "0 * * * *", StartingDeadlineSeconds: ptr.To[int64](300)},
		Status: batchv1.CronJobStatus{LastScheduleTime: ptr.To(metav1.NewTime(at(t, "2026-12-04T10:00:00Z")))},
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "hourly-29939220", Namespace: "batch", UID: "job-1",
			CreationTimestamp: metav1.NewTime(at(t, "2026-12-04T10:00:00Z")),
			OwnerReferences:   []metav1.OwnerReference{{Kind: "CronJob", Name: "hourly", UID: "cj-1", Controller: ptr.To(true)}},
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}},
		Spec:   batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](7200), BackoffLimit: ptr.To[int32](4)},
		Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(at(t, "2026-12-04T10:00:01Z"))), Failed: 1, Active: 1},
	}
	jobPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hourly-29939220-a", Namespace: "batch", UID: "pod-1",
			Labels: map[string]string{"batch.kubernetes.io/controller-uid": "job-1", "batch.kubernetes.io/job-name": "hourly-29939220"}},
		Spec:   corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	otherPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "batch", UID: "pod-2"}}
	client := fake.NewClientset(cronJob, job, jobPod, otherPod)

	exporter := newExporter(client, nil, testModel, clocktesting.NewFakePassiveClock(now), discardLogger())
	server := httptest.NewServer(exporter.handler())
	defer server.Close()

	resp, err := http.Get(server.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "not ready before the caches sync")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exporter.informers.Start(ctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 30*time.Second)
	defer syncCancel()
	require.True(t, exporter.informers.WaitForSync(syncCtx))
	require.Eventually(t, exporter.informers.Synced, 10*time.Second, 10*time.Millisecond)

	resp, err = http.Get(server.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	want := `
# HELP batchwatch_cached_objects Objects held in the informer cache of the resource.
# TYPE batchwatch_cached_objects gauge
batchwatch_cached_objects{resource="cronjobs"} 1
batchwatch_cached_objects{resource="jobs"} 1
batchwatch_cached_objects{resource="pods"} 1
# HELP batchwatch_informer_synced Whether the informer cache of the resource has synced, 1 or 0.
# TYPE batchwatch_informer_synced gauge
batchwatch_informer_synced{resource="cronjobs"} 1
batchwatch_informer_synced{resource="jobs"} 1
batchwatch_informer_synced{resource="pods"} 1
# HELP batchwatch_run_deadline_utilization_ratio Elapsed time divided by the run's active deadline (Job and Workflow activeDeadlineSeconds), for active runs that have one; a ratio.
# TYPE batchwatch_run_deadline_utilization_ratio gauge
batchwatch_run_deadline_utilization_ratio{kind="Job",name="hourly-29939220",namespace="batch",workload="hourly"} 0.7498611111111111
# HELP batchwatch_run_retries Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.
# TYPE batchwatch_run_retries gauge
batchwatch_run_retries{kind="Job",name="hourly-29939220",namespace="batch",workload="hourly"} 1
# HELP batchwatch_schedule_missed_runs Slots since the last scheduled run whose grace (startingDeadlineSeconds or --schedule-grace) has passed without a run, derived from the cron expression and status; capped at 100 like the controller.
# TYPE batchwatch_schedule_missed_runs gauge
batchwatch_schedule_missed_runs{kind="CronJob",name="hourly",namespace="batch",reason="concurrency_forbidden"} 0
batchwatch_schedule_missed_runs{kind="CronJob",name="hourly",namespace="batch",reason="not_started"} 1
`
	err = testutil.ScrapeAndCompare(server.URL+"/metrics", strings.NewReader(want),
		"batchwatch_cached_objects", "batchwatch_informer_synced", "batchwatch_run_deadline_utilization_ratio",
		"batchwatch_run_retries", "batchwatch_schedule_missed_runs")
	assert.NoError(t, err)

	resp, err = http.Get(server.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body := new(strings.Builder)
	_, err = io.Copy(body, resp.Body)
	require.NoError(t, err)
	assert.Contains(t, body.String(), "batchwatch_build_info{")
	assert.Contains(t, body.String(), `batchwatch_collector_success{collector="batch"} 1`)

	// The informer caches hold stripped objects.
	cached, exists, err := exporter.informers.Source().JobStore().GetByKey("batch/hourly-29939220")
	require.NoError(t, err)
	require.True(t, exists)
	assert.Empty(t, cached.(*batchv1.Job).ManagedFields, "managedFields stripped")
}

func TestSplitNamespaces(t *testing.T) {
	assert.Equal(t, []string{"a", "b", "c"}, splitNamespaces([]string{"a, b", "c", ""}))
	assert.Nil(t, splitNamespaces(nil))
}
