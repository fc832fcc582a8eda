package kube

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/batchwatch/batchwatch/collector"
)

// stubDiscovery serves the resource lists set on it; a group version
// without a list is not found. It is safe for concurrent use.
type stubDiscovery struct {
	mu    sync.Mutex
	lists map[string]*metav1.APIResourceList
	err   error
}

func (d *stubDiscovery) ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	if list, ok := d.lists[groupVersion]; ok {
		return list, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: groupVersion}, "")
}

func (d *stubDiscovery) serve(gv schema.GroupVersion, resources ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := &metav1.APIResourceList{GroupVersion: gv.String()}
	for _, r := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{Name: r, Namespaced: true})
	}
	if d.lists == nil {
		d.lists = map[string]*metav1.APIResourceList{}
	}
	d.lists[gv.String()] = list
}

func (d *stubDiscovery) remove(gv schema.GroupVersion) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.lists, gv.String())
}

func (d *stubDiscovery) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// syncBuffer is a log destination that tests may read while the code under
// test writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFakeDynamicClient(objects ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		argoGroupVersion.WithResource("cronworkflows"):               "CronWorkflowList",
		argoGroupVersion.WithResource("workflows"):                   "WorkflowList",
		sparkGroupVersion.WithResource("scheduledsparkapplications"): "ScheduledSparkApplicationList",
		sparkGroupVersion.WithResource("sparkapplications"):          "SparkApplicationList",
	}, objects...)
}

func customResource(apiVersion, kind, namespace, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	u.SetCreationTimestamp(metav1.NewTime(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)))
	return u
}

func workflow(name, phase string) *unstructured.Unstructured {
	return customResource("argoproj.io/v1alpha1", "Workflow", "data", name, map[string]any{
		"spec":   map[string]any{"entrypoint": "main", "activeDeadlineSeconds": int64(3600)},
		"status": map[string]any{"phase": phase, "startedAt": "2026-12-04T09:00:01Z"},
	})
}

func TestCustomResourcesFollowDiscovery(t *testing.T) {
	discovery := &stubDiscovery{}
	cronWorkflow := customResource("argoproj.io/v1alpha1", "CronWorkflow", "data", "nightly", map[string]any{
		"spec": map[string]any{"schedule": "0 3 * * *", "timezone": "Europe/Berlin"},
	})
	client := newFakeDynamicClient(cronWorkflow, workflow("nightly-1", "Running"))
	var logs syncBuffer
	unexpected := collector.NewUnexpectedObjects()
	crds := NewCustomResources(CustomResourceOptions{
		Discovery:         discovery,
		Client:            client,
		DiscoveryInterval: 20 * time.Millisecond,
		DefaultZone:       "UTC",
		Recorder:          collector.NewRecorder(time.Time{}),
		Unexpected:        unexpected,
		Logger:            slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	argo := crds.Sources()[0]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crds.Start(ctx)

	assert.Empty(t, crds.Stats(), "no informer before the CRDs are served")
	assert.True(t, argo.Synced(), "an engine without CRDs holds nothing back")
	schedules, runs := argo.Snapshot()
	assert.Empty(t, schedules, "no schedules before the CRDs are served")
	assert.Empty(t, runs, "no runs before the CRDs are served")
	assert.Contains(t, logs.String(), "custom resources not served; watching discovery for them to appear")

	discovery.serve(argoGroupVersion, "cronworkflows", "workflows", "workflows/status")
	require.Eventually(t, func() bool {
		stats := crds.Stats()
		return len(stats) == 2 && stats[0].Synced && stats[1].Synced
	}, 10*time.Second, 10*time.Millisecond, "informers start once discovery serves the CRDs")
	require.Eventually(t, func() bool {
		schedules, runs := argo.Snapshot()
		return len(schedules) == 1 && len(runs) == 1
	}, 10*time.Second, 10*time.Millisecond, "cached objects reach the source")
	assert.Equal(t, "cronworkflows", crds.Stats()[0].Resource)
	assert.Equal(t, "workflows", crds.Stats()[1].Resource)
	assert.Contains(t, logs.String(), "custom resource served; informer started")

	workflows := client.Resource(argoGroupVersion.WithResource("workflows")).Namespace("data")
	_, err := workflows.Create(ctx, workflow("nightly-2", "Pending"), metav1.CreateOptions{})
	require.NoError(t, err)
	malformed := workflow("broken", "Running")
	malformed.Object["spec"] = map[string]any{"activeDeadlineSeconds": "one hour"}
	_, err = workflows.Create(ctx, malformed, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return crds.Stats()[1].Objects == 3
	}, 10*time.Second, 10*time.Millisecond, "watch delivers new workflows")
	_, runs = argo.Snapshot()
	assert.Len(t, runs, 2, "the malformed workflow is skipped")
	// Handlers run after the cache is updated, so the event count may lag.
	assert.Eventually(t, func() bool {
		return crds.Stats()[1].Events["add"] == 3
	}, 10*time.Second, 10*time.Millisecond, "one add from the initial list and two from the watch")
	assert.Contains(t, logs.String(), "custom resource has a field of the wrong type; skipping it")
	want := `
# HELP batchwatch_unexpected_objects_total Custom resource versions received with an unexpected shape, by resource and reason: invalid_field when a field batchwatch reads has the wrong type and the object is skipped, unknown_phase when its phase or state is not one batchwatch knows and the run counts as active.
# TYPE batchwatch_unexpected_objects_total counter
batchwatch_unexpected_objects_total{reason="invalid_field",resource="workflows"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(unexpected, strings.NewReader(want), "batchwatch_unexpected_objects_total"))

	discovery.remove(argoGroupVersion)
	require.Eventually(t, func() bool {
		return len(crds.Stats()) == 0
	}, 10*time.Second, 10*time.Millisecond, "informers stop once the CRDs are removed")
	schedules, runs = argo.Snapshot()
	assert.Empty(t, schedules, "no schedules after the CRDs are removed")
	assert.Empty(t, runs, "no runs after the CRDs are removed")
	assert.Contains(t, logs.String(), "custom resource no longer served; informer stopped")
}

func TestCustomResourcesSurviveDiscoveryErrors(t *testing.T) {
	discovery := &stubDiscovery{}
	discovery.serve(sparkGroupVersion, "scheduledsparkapplications", "sparkapplications")
	client := newFakeDynamicClient(customResource("sparkoperator.k8s.io/v1beta2", "SparkApplication", "spark", "pi", map[string]any{
		"status": map[string]any{"applicationState": map[string]any{"state": "RUNNING"}},
	}))
	var logs syncBuffer
	crds := NewCustomResources(CustomResourceOptions{
		Discovery:         discovery,
		Client:            client,
		DiscoveryInterval: 10 * time.Millisecond,
		DefaultZone:       "UTC",
		Recorder:          collector.NewRecorder(time.Time{}),
		Unexpected:        collector.NewUnexpectedObjects(),
		Logger:            slog.New(slog.NewTextHandler(&logs, nil)),
	})
	spark := crds.Sources()[1]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crds.Start(ctx)
	require.Eventually(t, func() bool {
		_, runs := spark.Snapshot()
		return spark.Synced() && len(runs) == 1
	}, 10*time.Second, 10*time.Millisecond, "spark informers start at the first discovery")

	discovery.fail(errors.New("the server is currently unable to handle the request"))
	// Several polls fail in this time.
	time.Sleep(100 * time.Millisecond)

	assert.Len(t, crds.Stats(), 2, "informers keep running while discovery fails")
	_, runs := spark.Snapshot()
	assert.Len(t, runs, 1, "objects stay while discovery fails")
	assert.Equal(t, 1, strings.Count(logs.String(), "discovery failed"), "a failing discovery is logged once")

	discovery.fail(nil)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "discovery succeeded again")
	}, 10*time.Second, 10*time.Millisecond, "recovery is logged")
}

func TestCustomResourcesInNamespaces(t *testing.T) {
	discovery := &stubDiscovery{}
	discovery.serve(argoGroupVersion, "cronworkflows", "workflows")
	outside := workflow("elsewhere", "Running")
	outside.SetNamespace("other")
	client := newFakeDynamicClient(workflow("first", "Running"), outside)
	crds := NewCustomResources(CustomResourceOptions{
		Discovery:   discovery,
		Client:      client,
		Namespaces:  []string{"data", "reports"},
		DefaultZone: "UTC",
		Recorder:    collector.NewRecorder(time.Time{}),
		Unexpected:  collector.NewUnexpectedObjects(),
		Logger:      slog.New(slog.DiscardHandler),
	})
	argo := crds.Sources()[0]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crds.Start(ctx)
	second := workflow("second", "Pending")
	second.SetNamespace("reports")
	_, err := client.Resource(argoGroupVersion.WithResource("workflows")).Namespace("reports").Create(ctx, second, metav1.CreateOptions{})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		_, runs := argo.Snapshot()
		return argo.Synced() && len(runs) == 2
	}, 10*time.Second, 10*time.Millisecond, "workflows of both watched namespaces")
	_, runs := argo.Snapshot()
	names := []string{runs[0].Name, runs[1].Name}
	assert.ElementsMatch(t, []string{"first", "second"}, names, "no workflow of an unwatched namespace")
	assert.Equal(t, 2, crds.Stats()[1].Objects, "objects across both namespace informers")
}

func TestCustomResourceTransform(t *testing.T) {
	unexpected := collector.NewUnexpectedObjects()
	crds := NewCustomResources(CustomResourceOptions{
		DefaultZone: "UTC",
		Recorder:    collector.NewRecorder(time.Time{}),
		Unexpected:  unexpected,
		Logger:      slog.New(slog.DiscardHandler),
	})
	workflows := crds.resources[1]
	require.Equal(t, "workflows", workflows.gvr.Resource)
	transform := crds.transform(workflows)

	decoded, err := transform(workflow("ok", "Running"))
	require.NoError(t, err)
	assert.IsType(t, &collector.Workflow{}, decoded)

	malformed := workflow("broken", "Running")
	malformed.Object["status"] = "done"
	rejected, err := transform(malformed)
	require.NoError(t, err, "a malformed object must not fail the informer")
	require.IsType(t, &rejectedObject{}, rejected)
	assert.Equal(t, "broken", rejected.(*rejectedObject).Name)

	unknown, err := transform(workflow("future", "Hibernating"))
	require.NoError(t, err)
	assert.IsType(t, &collector.Workflow{}, unknown, "an unknown phase keeps the object")

	again, err := transform(decoded)
	require.NoError(t, err)
	assert.Same(t, decoded, again, "decoded objects pass unchanged")

	want := `
# HELP batchwatch_unexpected_objects_total Custom resource versions received with an unexpected shape, by resource and reason: invalid_field when a field batchwatch reads has the wrong type and the object is skipped, unknown_phase when its phase or state is not one batchwatch knows and the run counts as active.
# TYPE batchwatch_unexpected_objects_total counter
batchwatch_unexpected_objects_total{reason="invalid_field",resource="workflows"} 1
batchwatch_unexpected_objects_total{reason="unknown_phase",resource="workflows"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(unexpected, strings.NewReader(want), "batchwatch_unexpected_objects_total"))
}

func TestStaticCustomResourcesEngines(t *testing.T) {
	recorder := collector.NewRecorder(time.Time{})
	unexpected := collector.NewUnexpectedObjects()

	sources, err := StaticCustomResources(nil, recorder, unexpected, "UTC", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Empty(t, sources, "no engine without objects")

	malformed := workflow("broken", "Running")
	malformed.Object["status"] = map[string]any{"startedAt": "this morning"}
	sources, err = StaticCustomResources([]*unstructured.Unstructured{workflow("ok", "Succeeded"), malformed},
		recorder, unexpected, "UTC", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Len(t, sources, 1, "only the engine with objects")
	assert.Equal(t, "argo", sources[0].Name())
	_, runs := sources[0].Snapshot()
	require.Len(t, runs, 1, "the malformed workflow is skipped")
	assert.Equal(t, "ok", runs[0].Name)

	_, err = StaticCustomResources([]*unstructured.Unstructured{customResource("argoproj.io/v1alpha1", "WorkflowTemplate", "data", "t", nil)},
		recorder, unexpected, "UTC", slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "not an Argo or spark-operator resource batchwatch reads")
}
