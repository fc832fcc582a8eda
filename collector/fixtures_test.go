package collector

import (
	"io"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func metaTime(value string) *metav1.Time {
	t := metav1.NewTime(at(value))
	return &t
}

type cronJobOption func(*batchv1.CronJob)

func newCronJob(name, schedule string, opts ...cronJobOption) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "batch", UID: types.UID("uid-" + name),
			CreationTimestamp: *metaTime("2026-11-01T00:00:00Z"),
		},
		Spec: batchv1.CronJobSpec{
			Schedule:                schedule,
			StartingDeadlineSeconds: ptr.To[int64](300),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit:          ptr.To[int32](2),
				ActiveDeadlineSeconds: ptr.To[int64](3600),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:      "main",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
				}}}},
			}},
		},
	}
	for _, opt := range opts {
		opt(cj)
	}
	return cj
}

func lastScheduled(value string) cronJobOption {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = metaTime(value) }
}

type jobOption func(*batchv1.Job)

func newJob(name string, opts ...jobOption) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "batch", UID: types.UID("uid-" + name),
			CreationTimestamp: *metaTime("2026-12-04T10:00:00Z"),
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](3),
			ActiveDeadlineSeconds:   ptr.To[int64](3600),
			TTLSecondsAfterFinished: ptr.To[int32](600),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name:      "main",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
				}},
			}},
		},
	}
	for _, opt := range opts {
		opt(job)
	}
	return job
}

func ownedBy(cronJob string) jobOption {
	return func(job *batchv1.Job) {
		job.OwnerReferences = []metav1.OwnerReference{{
			Kind: "CronJob", Name: cronJob, UID: types.UID("uid-" + cronJob), Controller: ptr.To(true),
		}}
	}
}

func started(value string) jobOption {
	return func(job *batchv1.Job) { job.Status.StartTime = metaTime(value) }
}

func created(value string) jobOption {
	return func(job *batchv1.Job) { job.CreationTimestamp = *metaTime(value) }
}

func finished(condition batchv1.JobConditionType, reason, value string) jobOption {
	return func(job *batchv1.Job) {
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{
			Type: condition, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: *metaTime(value),
		})
		if condition == batchv1.JobComplete {
			job.Status.CompletionTime = metaTime(value)
		}
	}
}

func failedPods(n int32) jobOption {
	return func(job *batchv1.Job) { job.Status.Failed = n }
}

type podOption func(*corev1.Pod)

func newPod(name string, job *batchv1.Job, opts ...podOption) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: job.Namespace, UID: types.UID("uid-" + name),
			CreationTimestamp: *metaTime("2026-12-04T10:00:01Z"),
			Labels: map[string]string{
				labelControllerUID: string(job.UID),
				labelJobName:       job.Name,
			},
		},
		Spec:   corev1.PodSpec{NodeName: "node-1", RestartPolicy: job.Spec.Template.Spec.RestartPolicy},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, opt := range opts {
		opt(pod)
	}
	return pod
}

func podTerminated(exitCode int32, reason, finishedAt string) podOption {
	return func(pod *corev1.Pod) {
		pod.Status.Phase = corev1.PodFailed
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "main",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Reason: reason, FinishedAt: *metaTime(finishedAt),
			}},
		}}
	}
}

func podRestarted(count int32, exitCode int32, reason string) podOption {
	return func(pod *corev1.Pod) {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name:         "main",
			RestartCount: count,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Reason: reason,
			}},
		}}
	}
}

func podUnscheduled() podOption {
	return func(pod *corev1.Pod) {
		pod.Spec.NodeName = ""
		pod.Status.Phase = corev1.PodPending
	}
}

// fixture holds the caches, source and collector of one test.
type fixture struct {
	cronJobs, jobs, pods cache.Indexer
	recorder             *Recorder
	source               *BatchSource
	collector            *Collector
	synced               bool
}

// newFixture builds a collector over the given objects at now, feeding every
// object to the source's event handlers as an informer's initial list would.
func newFixture(now string, since time.Time, objects ...any) *fixture {
	f := &fixture{
		cronJobs: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		jobs:     cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		pods:     cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{PodsByJobIndex: IndexPodByJob}),
		recorder: NewRecorder(since),
		synced:   true,
	}
	f.source = NewBatchSource(f.cronJobs, f.jobs, f.pods, func() bool { return f.synced }, f.recorder, "UTC", discardLogger)
	f.collector = New(Options{
		Sources:         []Source{f.source},
		Recorder:        f.recorder,
		Clock:           clocktesting.NewFakePassiveClock(at(now)),
		ScheduleGrace:   5 * time.Minute,
		DefaultTimeZone: "UTC",
		Logger:          discardLogger,
	})

	for _, obj := range objects {
		switch o := obj.(type) {
		case *batchv1.CronJob:
			_ = f.cronJobs.Add(o)
		case *batchv1.Job:
			_ = f.jobs.Add(o)
		case *corev1.Pod:
			_ = f.pods.Add(o)
		}
	}
	for _, obj := range objects {
		switch o := obj.(type) {
		case *batchv1.CronJob:
			f.source.OnCronJob(nil, o)
		case *batchv1.Job:
			f.source.OnJob(o)
		case *corev1.Pod:
			f.source.OnPod(o)
		}
	}
	return f
}
