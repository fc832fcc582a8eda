package kube

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/batchwatch/batchwatch/collector"
	"github.com/batchwatch/batchwatch/internal/manifest"
)

var dumps = []string{"../../cmd/batchwatch/testdata/batch-namespace.yaml", "../../cmd/batchwatch/testdata/batch-jobs.yaml"}

func readDumps(t *testing.T) *manifest.Objects {
	t.Helper()
	var objs manifest.Objects
	for _, path := range dumps {
		require.NoError(t, objs.ReadFile(path))
	}
	return &objs
}

func TestTransformDropsUnreadFields(t *testing.T) {
	objs := readDumps(t)
	job := objs.Jobs[0].DeepCopy()
	job.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	job.Labels = map[string]string{"team": "data", "kueue.x-k8s.io/queue-name": "q"}
	job.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"}
	job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SECRET", Value: "x"}}

	stripped, err := TransformObject(job)
	require.NoError(t, err)
	out := stripped.(*batchv1.Job)

	assert.Empty(t, out.ManagedFields)
	assert.Equal(t, map[string]string{"kueue.x-k8s.io/queue-name": "q"}, out.Labels)
	assert.Empty(t, out.Annotations)
	assert.Empty(t, out.Spec.Template.Spec.Containers[0].Image)
	assert.Empty(t, out.Spec.Template.Spec.Containers[0].Env)
	assert.Equal(t, job.Spec.BackoffLimit, out.Spec.BackoffLimit)
	assert.Equal(t, job.Status.StartTime, out.Status.StartTime)

	unknown := &corev1.ConfigMap{}
	passed, err := TransformObject(unknown)
	require.NoError(t, err)
	assert.Same(t, unknown, passed)
}

// The collector must compute the same metrics from stripped objects as
// from whole ones: the transform may drop only what nothing reads.
func TestTransformKeepsEveryValue(t *testing.T) {
	objs := readDumps(t)
	now := time.Date(2026, 12, 4, 0, 20, 0, 0, time.UTC)
	logger := slog.New(slog.DiscardHandler)

	whole := scrape(t, rawSource(t, objs, now, logger), now)
	strippedRecorder := collector.NewRecorder(time.Time{})
	stripped, err := StaticSource(objs.CronJobs, objs.Jobs, objs.Pods, strippedRecorder, "UTC", logger)
	require.NoError(t, err)

	assert.Equal(t, whole, scrape(t, sourceWithRecorder{stripped, strippedRecorder}, now))
	assert.Contains(t, whole, "batchwatch_run_retries")
}

type sourceWithRecorder struct {
	*collector.BatchSource
	recorder *collector.Recorder
}

func rawSource(t *testing.T, objs *manifest.Objects, now time.Time, logger *slog.Logger) sourceWithRecorder {
	t.Helper()
	cronJobs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	jobs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	pods := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{collector.PodsByJobIndex: collector.IndexPodByJob})
	for _, o := range objs.CronJobs {
		require.NoError(t, cronJobs.Add(o))
	}
	for _, o := range objs.Jobs {
		require.NoError(t, jobs.Add(o))
	}
	for _, o := range objs.Pods {
		require.NoError(t, pods.Add(o))
	}
	recorder := collector.NewRecorder(time.Time{})
	source := collector.NewBatchSource(cronJobs, jobs, pods, func() bool { return true }, recorder, "UTC", logger)
	for _, o := range objs.Jobs {
		source.OnJob(o)
	}
	for _, o := range objs.Pods {
		source.OnPod(o)
	}
	return sourceWithRecorder{source, recorder}
}

func scrape(t *testing.T, source sourceWithRecorder, now time.Time) string {
	t.Helper()
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(collector.New(collector.Options{
		Sources:         []collector.Source{source.BatchSource},
		Recorder:        source.recorder,
		Clock:           clocktesting.NewFakePassiveClock(now),
		ScheduleGrace:   5 * time.Minute,
		DefaultTimeZone: "UTC",
		Logger:          slog.New(slog.DiscardHandler),
	}))
	families, err := registry.Gather()
	require.NoError(t, err)
	var out bytes.Buffer
	for _, f := range families {
		_, err := expfmt.MetricFamilyToText(&out, f)
		require.NoError(t, err)
	}
	return out.String()
}
