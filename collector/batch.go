package collector

import (
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// PodsByJobIndex is the name of the pod index by the UID of the owning Job.
const PodsByJobIndex = "job-uid"

// IndexPodByJob indexes a pod by the UID of the Job that owns it.
func IndexPodByJob(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if uid := podJobUID(pod); uid != "" {
		return []string{string(uid)}, nil
	}
	return nil, nil
}

func podJobUID(pod *corev1.Pod) types.UID {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == kindJob && ref.Controller != nil && *ref.Controller {
			return ref.UID
		}
	}
	if uid := pod.Labels[labelControllerUID]; uid != "" {
		return types.UID(uid)
	}
	return types.UID(pod.Labels[labelLegacyControlUID])
}

func podJobName(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == kindJob && ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	if name := pod.Labels[labelJobName]; name != "" {
		return name
	}
	return pod.Labels[labelLegacyJobName]
}

// Store is the part of a cache.Indexer the sources read.
type Store interface {
	List() []any
	ByIndex(indexName, indexedValue string) ([]any, error)
	GetByKey(key string) (any, bool, error)
}

// BatchSource builds the model from the CronJob, Job and Pod caches and
// turns their informer events into the recorder's counters.
type BatchSource struct {
	cronJobs Store
	jobs     Store
	pods     Store
	synced   func() bool

	recorder *Recorder
	parser   *scheduleParser
	logger   *slog.Logger
}

// NewBatchSource returns a source over the given caches; synced reports
// whether their informers completed the first list. The Job store must
// have the cache.NamespaceIndex index and the pod store the PodsByJobIndex
// index.
func NewBatchSource(cronJobs, jobs, pods Store, synced func() bool, recorder *Recorder, defaultZone string, logger *slog.Logger) *BatchSource {
	return &BatchSource{
		cronJobs: cronJobs,
		jobs:     jobs,
		pods:     pods,
		synced:   synced,
		recorder: recorder,
		parser:   newScheduleParser(defaultZone),
		logger:   logger,
	}
}

// Name returns the value of the collector label of this source.
func (b *BatchSource) Name() string { return "batch" }

// Synced reports whether the caches are complete.
func (b *BatchSource) Synced() bool { return b.synced() }

// Snapshot builds the schedules and runs of the cached objects.
func (b *BatchSource) Snapshot() ([]*Schedule, []*Run) {
	cronJobs := b.cronJobs.List()
	schedules := make([]*Schedule, 0, len(cronJobs))
	for _, obj := range cronJobs {
		if cj, ok := obj.(*batchv1.CronJob); ok {
			schedules = append(schedules, scheduleFromCronJob(cj))
		}
	}

	jobs := b.jobs.List()
	runs := make([]*Run, 0, len(jobs))
	for _, obj := range jobs {
		job, ok := obj.(*batchv1.Job)
		if !ok {
			continue
		}
		runs = append(runs, runFromJob(job, b.activePods(job)))
	}
	return schedules, runs
}

// activePods returns the pods of a Job that has not finished; finished
// Jobs need none, which keeps the scrape from touching most pods.
func (b *BatchSource) activePods(job *batchv1.Job) []*corev1.Pod {
	if finishedCondition(job) != nil {
		return nil
	}
	objs, err := b.pods.ByIndex(PodsByJobIndex, string(job.UID))
	if err != nil {
		return nil
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, obj := range objs {
		if pod, ok := obj.(*corev1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	return pods
}

// OnJob counts a Job that has finished. Informers call it on add and update.
func (b *BatchSource) OnJob(job *batchv1.Job) {
	b.recorder.ObserveRun(runFromJob(job, nil))
}

// OnJobDelete drops the recorder's memory of a deleted Job.
func (b *BatchSource) OnJobDelete(job *batchv1.Job) {
	b.recorder.ForgetRun(job.UID)
}

// OnPod counts a pod's failure and container restarts for its Job.
func (b *BatchSource) OnPod(pod *corev1.Pod) {
	name := podJobName(pod)
	if name == "" {
		return
	}
	obj, exists, err := b.jobs.GetByKey(pod.Namespace + "/" + name)
	if err != nil || !exists {
		// The Job may arrive after its pods on start; the pod's next
		// update is counted then.
		return
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}

	run := runFromJob(job, nil)
	failed := pod.Status.Phase == corev1.PodFailed
	var failure PodFailure
	var failedAt time.Time
	ignored := false
	if failed {
		failure = podFailure(pod)
		failedAt = podFailedAt(pod)
		ignored = ignoredByPolicy(job, pod)
	}
	b.recorder.ObservePod(pod.UID, run, failed, failedAt, ignored, failure, containerRestarts(pod), pod.CreationTimestamp.Time)
}

// OnPodDelete drops the recorder's memory of a deleted pod.
func (b *BatchSource) OnPodDelete(pod *corev1.Pod) {
	b.recorder.ForgetPod(pod.UID)
}

// podFailedAt returns when a failed pod ended: the latest container
// termination, else its creation time.
func podFailedAt(pod *corev1.Pod) time.Time {
	var latest time.Time
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range statuses {
			if t := s.State.Terminated; t != nil && t.FinishedAt.After(latest) {
				latest = t.FinishedAt.Time
			}
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.LastTransitionTime.After(latest) {
			latest = c.LastTransitionTime.Time
		}
	}
	if latest.IsZero() {
		return pod.CreationTimestamp.Time
	}
	return latest
}

// OnCronJob logs a schedule that cannot be parsed, once per change of its
// expression or zone. It also counts the slots a CronJob passed over when
// its lastScheduleTime moves forward, because the controller starts only
// the most recent missed slot and drops the others without an event. old is
// nil when the CronJob is new.
func (b *BatchSource) OnCronJob(old, updated *batchv1.CronJob) {
	s := scheduleFromCronJob(updated)
	parsed, err := b.parser.parse(s.Expression, s.TimeZone)
	if err != nil {
		if old == nil || old.Spec.Schedule != updated.Spec.Schedule || !equalZone(old.Spec.TimeZone, updated.Spec.TimeZone) {
			b.logger.Warn("schedule cannot be parsed; the controller will not start runs", "namespace", s.Namespace, "name", s.Name,
				"kind", s.Kind, "schedule", s.Expression, "timezone", s.TimeZone, "reason", invalidReason(err), "err", err)
		}
		return
	}

	// An added CronJob is history; an update is a move seen while watching.
	// Before its first run a CronJob's slots count from its creation, as
	// in the missed-slot math.
	if old == nil || updated.Status.LastScheduleTime == nil {
		return
	}
	previous, current := old.CreationTimestamp.Time, updated.Status.LastScheduleTime.Time
	if old.Status.LastScheduleTime != nil {
		previous = old.Status.LastScheduleTime.Time
	}
	if !current.After(previous) {
		return
	}
	notStarted, forbidden := skippedSlots(s, parsed, b.runsOf(updated), previous, current)
	if notStarted+forbidden > 0 {
		b.logger.Debug("schedule skipped slots", "namespace", s.Namespace, "name", s.Name, "kind", s.Kind,
			"not_started", notStarted, "concurrency_forbidden", forbidden)
	}
	b.recorder.ObserveSkipped(s, reasonNotStarted, notStarted)
	b.recorder.ObserveSkipped(s, reasonConcurrencyForbidden, forbidden)
}

// runsOf returns the retained runs of a CronJob.
func (b *BatchSource) runsOf(cj *batchv1.CronJob) []*Run {
	objs, err := b.jobs.ByIndex(cache.NamespaceIndex, cj.Namespace)
	if err != nil {
		objs = b.jobs.List()
	}
	var runs []*Run
	for _, obj := range objs {
		job, ok := obj.(*batchv1.Job)
		if !ok {
			continue
		}
		if owner := cronJobOwner(job); owner != nil && owner.UID == cj.UID {
			runs = append(runs, runFromJob(job, nil))
		}
	}
	return runs
}

func equalZone(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// JobStore returns the Job cache the source reads.
func (b *BatchSource) JobStore() Store { return b.jobs }
