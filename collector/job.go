package collector

import (
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kinds of the batch/v1 engine.
const (
	kindCronJob = "CronJob"
	kindJob     = "Job"
)

// Labels and annotations batchwatch reads from Jobs and pods.
const (
	labelKueueQueue        = "kueue.x-k8s.io/queue-name"
	labelAppName           = "app.kubernetes.io/name"
	labelJobName           = "batch.kubernetes.io/job-name"
	labelControllerUID     = "batch.kubernetes.io/controller-uid"
	labelLegacyJobName     = "job-name"
	labelLegacyControlUID  = "controller-uid"
	annotationScheduledAt  = "batch.kubernetes.io/cronjob-scheduled-timestamp"
	annotationIndex        = "batch.kubernetes.io/job-completion-index"
	annotationIndexFailure = "batch.kubernetes.io/job-index-failure-count"
)

// defaultBackoffLimit is the Job API's default for spec.backoffLimit.
const defaultBackoffLimit = 6

// runFromJob builds the Run of a Job. pods are the Job's pods, needed for the
// retries of restartPolicy OnFailure and per-index budgets and for backlog.
func runFromJob(job *batchv1.Job, pods []*corev1.Pod) *Run {
	r := &Run{
		Kind:      kindJob,
		Namespace: job.Namespace,
		Name:      job.Name,
		UID:       job.UID,
		Workload:  jobWorkload(job),
		Created:   job.CreationTimestamp.Time,
		Started:   timePtr(job.Status.StartTime),
	}
	if owner := cronJobOwner(job); owner != nil {
		r.ScheduleUID = owner.UID
		r.ScheduledAt = jobScheduledAt(job, owner.Name)
	} else {
		r.FailedChecks = jobChecks(&job.Spec)
	}
	if job.Spec.ActiveDeadlineSeconds != nil {
		d := time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second
		r.Deadline = &d
	}

	if finished := finishedCondition(job); finished != nil {
		r.State = RunFailed
		if finished.Type == batchv1.JobComplete {
			r.State = RunSucceeded
		}
		r.Reason = jobReason(finished.Reason)
		end := finished.LastTransitionTime.Time
		if r.State == RunSucceeded && job.Status.CompletionTime != nil {
			end = job.Status.CompletionTime.Time
		}
		r.Finished = &end
		return r
	}

	// A suspended Job has no startTime: the Job controller clears it on
	// suspend, so the deadline does not run while the Job is queued.
	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		r.State = RunWaiting
		r.BacklogState = BacklogQueued
		r.Queue = job.Labels[labelKueueQueue]
		r.WaitingSince = job.CreationTimestamp.Time
		if c := jobCondition(job, batchv1.JobSuspended); c != nil && c.Status == corev1.ConditionTrue {
			r.WaitingSince = c.LastTransitionTime.Time
		}
		return r
	}
	if job.Status.StartTime == nil {
		r.State = RunWaiting
		return r
	}

	r.State = RunActive
	r.Queue = job.Labels[labelKueueQueue]
	if since, waiting := unscheduledSince(pods); waiting {
		r.BacklogState = BacklogPending
		r.WaitingSince = since
	}
	r.Retries, r.RetryLimit = jobRetries(job, pods)
	return r
}

// knownJobReasons bounds the reason label of finished runs to the reasons
// the Job controller sets; another value is reported as other.
var knownJobReasons = []string{
	"BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "FailedIndexes",
	"MaxFailedIndexesExceeded", "CompletionsReached", "SuccessPolicy",
}

func jobReason(reason string) string {
	if reason == "" || slices.Contains(knownJobReasons, reason) {
		return reason
	}
	return podReasonOther
}

// finishedCondition returns the Complete or Failed condition that is true.
func finishedCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func cronJobOwner(job *batchv1.Job) *metav1.OwnerReference {
	for i := range job.OwnerReferences {
		ref := &job.OwnerReferences[i]
		if ref.Kind == kindCronJob && ref.Controller != nil && *ref.Controller {
			return ref
		}
	}
	return nil
}

// jobWorkload names the workload a Job belongs to: its CronJob; else the
// app.kubernetes.io/name label; else the generateName prefix shared by
// reruns; else the Job itself.
func jobWorkload(job *batchv1.Job) WorkloadRef {
	if owner := cronJobOwner(job); owner != nil {
		return WorkloadRef{Kind: kindCronJob, Name: owner.Name}
	}
	if name := job.Labels[labelAppName]; name != "" {
		return WorkloadRef{Kind: kindJob, Name: name}
	}
	if prefix := strings.TrimRight(job.GenerateName, "-."); prefix != "" {
		return WorkloadRef{Kind: kindJob, Name: prefix}
	}
	return WorkloadRef{Kind: kindJob, Name: job.Name}
}

// jobScheduledAt returns the slot a CronJob created the Job for: the
// annotation the controller sets since Kubernetes 1.28, else the Unix
// minutes it appends to the Job's name.
func jobScheduledAt(job *batchv1.Job, cronJobName string) *time.Time {
	if value, ok := job.Annotations[annotationScheduledAt]; ok {
		if t, err := time.Parse(time.RFC3339, value); err == nil {
			return &t
		}
	}
	suffix, ok := strings.CutPrefix(job.Name, cronJobName+"-")
	if !ok {
		return nil
	}
	minutes, err := strconv.ParseInt(suffix, 10, 64)
	if err != nil {
		return nil
	}
	t := time.Unix(minutes*60, 0).UTC()
	return &t
}

// jobRetries returns the failed attempts of an active Job and its limit, the
// way the Job controller counts them against its budget.
func jobRetries(job *batchv1.Job, pods []*corev1.Pod) (int32, *int32) {
	if job.Spec.BackoffLimitPerIndex != nil {
		limit := *job.Spec.BackoffLimitPerIndex
		return worstIndexFailures(job, pods), &limit
	}

	limit := int32(defaultBackoffLimit)
	if job.Spec.BackoffLimit != nil {
		limit = *job.Spec.BackoffLimit
	}
	// status.failed already leaves out pods that a podFailurePolicy Ignore
	// rule matched. With OnFailure the kubelet restarts containers in place,
	// and the controller counts restarts of pods that are still running.
	retries := job.Status.Failed
	if job.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
		for _, pod := range pods {
			if pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodPending {
				retries += podRestarts(pod)
			}
		}
	}
	return retries, &limit
}

func podRestarts(pod *corev1.Pod) int32 {
	var restarts int32
	for _, s := range pod.Status.InitContainerStatuses {
		restarts += s.RestartCount
	}
	for _, s := range pod.Status.ContainerStatuses {
		restarts += s.RestartCount
	}
	return restarts
}

// worstIndexFailures returns the failures of the index closest to its
// backoffLimitPerIndex budget. Each replacement pod carries the failures of
// its index so far in an annotation; a failed pod adds one.
func worstIndexFailures(job *batchv1.Job, pods []*corev1.Pod) int32 {
	perIndex := map[string]int32{}
	for _, pod := range pods {
		index, ok := pod.Annotations[annotationIndex]
		if !ok {
			continue
		}
		failures := int32(0)
		if count, err := strconv.ParseInt(pod.Annotations[annotationIndexFailure], 10, 32); err == nil {
			failures = int32(count)
		}
		if pod.Status.Phase == corev1.PodFailed && !ignoredByPolicy(job, pod) {
			failures++
		}
		if failures > perIndex[index] {
			perIndex[index] = failures
		}
	}

	var worst int32
	for _, failures := range perIndex {
		worst = max(worst, failures)
	}
	return worst
}

// unscheduledSince reports whether a started Job is still waiting for its
// pods: none has been scheduled yet and at least one is pending without a
// node. It returns the creation time of the oldest such pod.
func unscheduledSince(pods []*corev1.Pod) (time.Time, bool) {
	var oldest time.Time
	waiting := false
	for _, pod := range pods {
		if pod.Spec.NodeName != "" || pod.Status.Phase != corev1.PodPending {
			return time.Time{}, false
		}
		if !waiting || pod.CreationTimestamp.Time.Before(oldest) {
			oldest = pod.CreationTimestamp.Time
		}
		waiting = true
	}
	return oldest, waiting
}

// Checklist items of batchwatch_spec_check_failed.
const (
	checkNoDeadline         = "no_deadline"
	checkNoBackoffLimit     = "no_backoff_limit"
	checkNoTTL              = "no_ttl"
	checkNoResourceLimits   = "no_resource_limits"
	checkNoStartingDeadline = "no_starting_deadline"
)

// jobChecks returns the checklist items a Job spec misses. A container
// without a memory limit counts as missing limits: memory is what an
// unbounded batch pod exhausts on a node, while CPU limits are a choice.
func jobChecks(spec *batchv1.JobSpec) []string {
	var failed []string
	if spec.ActiveDeadlineSeconds == nil {
		failed = append(failed, checkNoDeadline)
	}
	if spec.BackoffLimit == nil && spec.BackoffLimitPerIndex == nil {
		failed = append(failed, checkNoBackoffLimit)
	}
	if spec.TTLSecondsAfterFinished == nil {
		failed = append(failed, checkNoTTL)
	}
	for _, c := range spec.Template.Spec.Containers {
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			failed = append(failed, checkNoResourceLimits)
			break
		}
	}
	return failed
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
