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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestServeWiringCustomResources(t *testing.T) {
	now := at(t, "2026-12-04T10:00:00Z")
	cronWorkflow := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "CronWorkflow",
		"metadata": map[string]any{"name": "nightly", "namespace": "data", "uid": "uid-nightly",
			"creationTimestamp": "2026-11-01T00:00:00Z"},
		"spec": map[string]any{"schedules": []any{"0 8 * * *", "0 20 * * *"}, "timezone": "Europe/Berlin",
			"startingDeadlineSeconds": int64(600)},
		"status": map[string]any{"lastScheduledTime": "2026-12-04T07:00:00Z"},
	}}
	workflow := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Workflow",
		"metadata": map[string]any{"name": "nightly-1796367600", "namespace": "data", "uid": "uid-wf",
			"creationTimestamp": "2026-12-04T07:00:00Z",
			"labels":            map[string]any{"workflows.argoproj.io/cron-workflow": "nightly"},
			"managedFields":     []any{map[string]any{"manager": "workflow-controller"}}},
		"spec": map[string]any{"entrypoint": "main", "activeDeadlineSeconds": int64(14400),
			"templates": []any{map[string]any{"name": "main", "retryStrategy": map[string]any{"limit": int64(2)}}}},
		"status": map[string]any{"phase": "Running", "startedAt": "2026-12-04T07:00:01Z", "nodes": map[string]any{
			"r":  map[string]any{"type": "Retry", "phase": "Running", "templateName": "main", "children": []any{"r0", "r1"}},
			"r0": map[string]any{"type": "Pod", "phase": "Failed", "templateName": "main"},
			"r1": map[string]any{"type": "Pod", "phase": "Running", "templateName": "main"},
		}},
	}}
	dynamicClient := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Group: "argoproj.io", Version: "v1alpha1", Resource: "cronworkflows"}:                      "CronWorkflowList",
		{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}:                          "WorkflowList",
		{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "scheduledsparkapplications"}: "ScheduledSparkApplicationList",
		{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"}:          "SparkApplicationList",
	}, cronWorkflow, workflow)
	// Discovery serves Argo only: the spark-operator engine reports nothing.
	client := fake.NewClientset()
	client.Resources = []*metav1.APIResourceList{{
		GroupVersion: "argoproj.io/v1alpha1",
		APIResources: []metav1.APIResource{{Name: "cronworkflows", Namespaced: true}, {Name: "workflows", Namespaced: true}},
	}}

	exporter := newExporter(client, nil, testModel, clocktesting.NewFakePassiveClock(now), discardLogger(),
		withCustomResources(client.Discovery(), dynamicClient, time.Hour))
	server := httptest.NewServer(exporter.handler())
	defer server.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exporter.start(ctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 30*time.Second)
	defer syncCancel()
	require.True(t, exporter.informers.WaitForSync(syncCtx))
	require.Eventually(t, func() bool {
		for _, source := range exporter.customResources.Sources() {
			if !source.Synced() {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "custom resource informers sync")

	resp, err := http.Get(server.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	want := `
# HELP batchwatch_collector_success Whether the last scrape of the collector emitted object series, 1 or 0; 0 until its informers have synced, absent while an optional engine is not installed.
# TYPE batchwatch_collector_success gauge
batchwatch_collector_success{collector="argo"} 1
batchwatch_collector_success{collector="batch"} 1
# HELP batchwatch_informer_synced Whether the informer cache of the resource has synced, 1 or 0.
# TYPE batchwatch_informer_synced gauge
batchwatch_informer_synced{resource="cronjobs"} 1
batchwatch_informer_synced{resource="cronworkflows"} 1
batchwatch_informer_synced{resource="jobs"} 1
batchwatch_informer_synced{resource="pods"} 1
batchwatch_informer_synced{resource="workflows"} 1
# HELP batchwatch_run_deadline_utilization_ratio Elapsed time divided by the run's active deadline (Job and Workflow activeDeadlineSeconds), for active runs that have one; a ratio.
# TYPE batchwatch_run_deadline_utilization_ratio gauge
batchwatch_run_deadline_utilization_ratio{kind="Workflow",name="nightly-1796367600",namespace="data",workload="nightly"} 0.7499305555555555
# HELP batchwatch_run_retries Failed attempts of an active run so far: Job status.failed plus container restarts under restartPolicy OnFailure (the worst index with backoffLimitPerIndex), failed Argo retry children, or Spark attempts minus one.
# TYPE batchwatch_run_retries gauge
batchwatch_run_retries{kind="Workflow",name="nightly-1796367600",namespace="data",workload="nightly"} 1
# HELP batchwatch_run_retry_limit Failed attempts an active run may have before it fails: Job spec.backoffLimit (default 6) or backoffLimitPerIndex, Argo retryStrategy.limit, or the Spark restartPolicy retries.
# TYPE batchwatch_run_retry_limit gauge
batchwatch_run_retry_limit{kind="Workflow",name="nightly-1796367600",namespace="data",workload="nightly"} 2
# HELP batchwatch_schedule_active_runs Runs of the schedule that have not finished.
# TYPE batchwatch_schedule_active_runs gauge
batchwatch_schedule_active_runs{kind="CronWorkflow",name="nightly",namespace="data"} 1
# HELP batchwatch_schedule_info Static schedule spec: the cron expression, the time zone it is evaluated in and the concurrency policy; value 1.
# TYPE batchwatch_schedule_info gauge
batchwatch_schedule_info{concurrency_policy="Allow",kind="CronWorkflow",name="nightly",namespace="data",schedule="0 8 * * *, 0 20 * * *",timezone="Europe/Berlin"} 1
`
	err = testutil.ScrapeAndCompare(server.URL+"/metrics", strings.NewReader(want),
		"batchwatch_collector_success", "batchwatch_informer_synced", "batchwatch_run_deadline_utilization_ratio",
		"batchwatch_run_retries", "batchwatch_run_retry_limit", "batchwatch_schedule_active_runs", "batchwatch_schedule_info")
	assert.NoError(t, err)

	resp, err = http.Get(server.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.NotContains(t, string(body), "sparkapplications", "no informer series for resources that are not served")
	assert.NotContains(t, string(body), `batchwatch_collector_success{collector="spark"}`, "no collector series for an engine that is not installed")
	assert.NotContains(t, string(body), "batchwatch_unexpected_objects_total{", "no unexpected objects")
}
