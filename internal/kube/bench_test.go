package kube

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/collector"
)

// benchNow is the instant every benchmark scrape is computed at.
var benchNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// benchObjects builds a fleet shaped like a busy batch cluster: one CronJob
// per ten Jobs, nine in ten Jobs finished (one in five of those failed), and
// one pod per Job. Objects carry what the API server returns, managedFields
// and a full pod template included, so cache sizes are realistic.
func benchObjects(jobs int) ([]*batchv1.CronJob, []*batchv1.Job, []*corev1.Pod) {
	cronJobCount := jobs / 10
	cronJobs := make([]*batchv1.CronJob, 0, cronJobCount)
	for c := range cronJobCount {
		cronJobs = append(cronJobs, &batchv1.CronJob{
			ObjectMeta: benchMeta(fmt.Sprintf("cron-%d", c), fmt.Sprintf("ns-%d", c%50)),
			Spec: batchv1.CronJobSpec{
				Schedule:                "*/10 * * * *",
				TimeZone:                ptr.To("Europe/Berlin"),
				StartingDeadlineSeconds: ptr.To[int64](300),
				ConcurrencyPolicy:       batchv1.ForbidConcurrent,
				JobTemplate:             batchv1.JobTemplateSpec{Spec: benchJobSpec()},
			},
			Status: batchv1.CronJobStatus{
				LastScheduleTime:   ptr.To(metav1.NewTime(benchNow.Add(-10 * time.Minute))),
				LastSuccessfulTime: ptr.To(metav1.NewTime(benchNow.Add(-15 * time.Minute))),
			},
		})
	}

	jobList := make([]*batchv1.Job, 0, jobs)
	pods := make([]*corev1.Pod, 0, jobs)
	for j := range jobs {
		owner := cronJobs[j%cronJobCount]
		job := &batchv1.Job{
			ObjectMeta: benchMeta(fmt.Sprintf("%s-%d", owner.Name, 29939000+j), owner.Namespace),
			Spec:       benchJobSpec(),
			Status:     batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(benchNow.Add(-time.Duration(j%600) * time.Minute)))},
		}
		job.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}
		finishedAt := metav1.NewTime(job.Status.StartTime.Add(3 * time.Minute))
		switch {
		case j%10 == 0:
			job.Status.Active = 1
		case j%5 == 0:
			job.Status.Failed = 3
			job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
				Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: finishedAt}}
		default:
			job.Status.Succeeded = 1
			job.Status.CompletionTime = &finishedAt
			job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue,
				Reason: "CompletionsReached", LastTransitionTime: finishedAt}}
		}
		jobList = append(jobList, job)

		pod := &corev1.Pod{
			ObjectMeta: benchMeta(job.Name+"-x7k2p", job.Namespace),
			Spec:       job.Spec.Template.Spec,
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{{
					Name: "main", Image: "registry.example.com/etl:v3.2.1", ImageID: "registry.example.com/etl@sha256:0123456789abcdef",
					ContainerID: "containerd://0123456789abcdef", Ready: true,
				}},
			},
		}
		pod.Spec.NodeName = fmt.Sprintf("node-%d", j%100)
		pod.Labels["batch.kubernetes.io/controller-uid"] = string(job.UID)
		pod.Labels["batch.kubernetes.io/job-name"] = job.Name
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}}
		if job.Status.Active == 0 {
			pod.Status.Phase = corev1.PodSucceeded
		}
		pods = append(pods, pod)
	}
	return cronJobs, jobList, pods
}

func benchMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace, UID: types.UID("uid-" + namespace + "-" + name),
		ResourceVersion:   "123456789",
		CreationTimestamp: metav1.NewTime(benchNow.Add(-24 * time.Hour)),
		Labels:            map[string]string{"app.kubernetes.io/part-of": "data-platform", "team": "analytics"},
		Annotations:       map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"etl"}}`},
		ManagedFields: []metav1.ManagedFieldsEntry{{
			Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "batch/v1",
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:active":{},"f:conditions":{},"f:startTime":{},"f:succeeded":{}}}`)},
		}},
	}
}

func benchJobSpec() batchv1.JobSpec {
	return batchv1.JobSpec{
		BackoffLimit:            ptr.To[int32](2),
		ActiveDeadlineSeconds:   ptr.To[int64](3600),
		TTLSecondsAfterFinished: ptr.To[int32](86400),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: "registry.example.com/etl:v3.2.1",
				Command: []string{"python", "/app/etl.py", "--input=/data/in", "--output=/data/out"},
				Env:     []corev1.EnvVar{{Name: "BATCH_SIZE", Value: "1000"}, {Name: "LOG_FORMAT", Value: "json"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("500m"), corev1.ResourceMemory: apiresource.MustParse("1Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: apiresource.MustParse("4Gi")},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "batch-data"}}}},
		}},
	}
}

type benchCaches struct {
	cronJobs, jobs, pods cache.Indexer
}

// fillCaches stores the objects as informers would, through transform when
// it is set.
func fillCaches(b *testing.B, cronJobs []*batchv1.CronJob, jobs []*batchv1.Job, pods []*corev1.Pod, transform cache.TransformFunc) *benchCaches {
	b.Helper()
	caches := &benchCaches{
		cronJobs: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		jobs:     cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		pods: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{
			cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, collector.PodsByJobIndex: collector.IndexPodByJob}),
	}
	add := func(store cache.Indexer, obj any) {
		// A deep copy stands for the object decoded from the API server,
		// which the informer owns alone.
		switch o := obj.(type) {
		case *batchv1.CronJob:
			obj = o.DeepCopy()
		case *batchv1.Job:
			obj = o.DeepCopy()
		case *corev1.Pod:
			obj = o.DeepCopy()
		}
		if transform != nil {
			obj, _ = transform(obj)
		}
		if err := store.Add(obj); err != nil {
			b.Fatal(err)
		}
	}
	for _, o := range cronJobs {
		add(caches.cronJobs, o)
	}
	for _, o := range jobs {
		add(caches.jobs, o)
	}
	for _, o := range pods {
		add(caches.pods, o)
	}
	return caches
}

// retainedBytes returns the heap that the value built by build keeps alive.
func retainedBytes(build func() any) (any, uint64) {
	before := heapInUse()
	value := build()
	after := heapInUse()
	if after < before {
		return value, 0
	}
	return value, after - before
}

// benchCachesFor builds the fleet, measures the caches with and without the
// transform, and returns the stripped caches alone: the objects as decoded
// are garbage afterwards, as they are in a running exporter.
func benchCachesFor(b *testing.B, jobs int) (*benchCaches, uint64, uint64) {
	b.Helper()
	cronJobs, jobList, pods := benchObjects(jobs)

	whole, wholeBytes := retainedBytes(func() any { return fillCaches(b, cronJobs, jobList, pods, nil) })
	runtime.KeepAlive(whole)

	caches, strippedBytes := retainedBytes(func() any { return fillCaches(b, cronJobs, jobList, pods, TransformObject) })
	// The decoded objects must outlive both measurements, or the collector
	// frees them in the middle of one.
	runtime.KeepAlive(cronJobs)
	runtime.KeepAlive(jobList)
	runtime.KeepAlive(pods)
	return caches.(*benchCaches), strippedBytes, wholeBytes
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkScrape measures one scrape (gather and text encoding) over the
// stripped caches, and reports the bytes the caches retain with and without
// the transform.
func BenchmarkScrape(b *testing.B) {
	for _, jobs := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			caches, strippedBytes, wholeBytes := benchCachesFor(b, jobs)

			logger := slog.New(slog.DiscardHandler)
			recorder := collector.NewRecorder(time.Time{})
			source := collector.NewBatchSource(caches.cronJobs, caches.jobs, caches.pods, func() bool { return true }, recorder, "UTC", logger)
			registry := prometheus.NewRegistry()
			registry.MustRegister(collector.New(collector.Options{
				Sources: []collector.Source{source}, Recorder: recorder, Clock: clocktesting.NewFakePassiveClock(benchNow),
				ScheduleGrace: 5 * time.Minute, DefaultTimeZone: "UTC", Logger: logger,
			}))

			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				families, err := registry.Gather()
				if err != nil {
					b.Fatal(err)
				}
				encoder := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
				for _, f := range families {
					if err := encoder.Encode(f); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()

			b.ReportMetric(float64(strippedBytes), "cache-bytes")
			b.ReportMetric(float64(wholeBytes), "untransformed-cache-bytes")
			b.ReportMetric(float64(strippedBytes)/float64(jobs), "cache-bytes/job")
		})
	}
}
