package kube

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The transforms below replace each object in the informer caches by a copy
// that keeps only the fields batchwatch reads, so the caches grow with what
// batchwatch needs, not with object size. They drop managedFields, container
// images, commands and environment, and of a pod spec keep only the node name
// and restart policy.

// keptLabels and keptAnnotations are the only metadata entries read.
var (
	keptLabels = []string{
		"kueue.x-k8s.io/queue-name",
		"app.kubernetes.io/name",
		"batch.kubernetes.io/job-name",
		"batch.kubernetes.io/controller-uid",
		"job-name",
		"controller-uid",
	}
	keptAnnotations = []string{
		"batch.kubernetes.io/cronjob-scheduled-timestamp",
		"batch.kubernetes.io/job-completion-index",
		"batch.kubernetes.io/job-index-failure-count",
	}
)

// TransformObject strips a CronJob, Job or Pod; other values, such as the
// tombstones of deleted objects, pass through unchanged.
func TransformObject(obj any) (any, error) {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		return stripCronJob(o), nil
	case *batchv1.Job:
		return stripJob(o), nil
	case *corev1.Pod:
		return stripPod(o), nil
	}
	return obj, nil
}

func stripMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name:              m.Name,
		GenerateName:      m.GenerateName,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            keep(m.Labels, keptLabels),
		Annotations:       keep(m.Annotations, keptAnnotations),
	}
	for _, ref := range m.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			out.OwnerReferences = []metav1.OwnerReference{{Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Controller: ref.Controller}}
			break
		}
	}
	return out
}

func keep(entries map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := entries[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

func stripCronJob(cj *batchv1.CronJob) *batchv1.CronJob {
	return &batchv1.CronJob{
		TypeMeta:   cj.TypeMeta,
		ObjectMeta: stripMeta(&cj.ObjectMeta),
		Spec: batchv1.CronJobSpec{
			Schedule:                cj.Spec.Schedule,
			TimeZone:                cj.Spec.TimeZone,
			StartingDeadlineSeconds: cj.Spec.StartingDeadlineSeconds,
			ConcurrencyPolicy:       cj.Spec.ConcurrencyPolicy,
			Suspend:                 cj.Spec.Suspend,
			JobTemplate:             batchv1.JobTemplateSpec{Spec: stripJobSpec(&cj.Spec.JobTemplate.Spec)},
		},
		Status: batchv1.CronJobStatus{
			LastScheduleTime:   cj.Status.LastScheduleTime,
			LastSuccessfulTime: cj.Status.LastSuccessfulTime,
		},
	}
}

func stripJob(job *batchv1.Job) *batchv1.Job {
	out := &batchv1.Job{
		TypeMeta:   job.TypeMeta,
		ObjectMeta: stripMeta(&job.ObjectMeta),
		Spec:       stripJobSpec(&job.Spec),
		Status: batchv1.JobStatus{
			StartTime:      job.Status.StartTime,
			CompletionTime: job.Status.CompletionTime,
			Active:         job.Status.Active,
			Succeeded:      job.Status.Succeeded,
			Failed:         job.Status.Failed,
		},
	}
	for _, c := range job.Status.Conditions {
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobFailed, batchv1.JobSuspended:
			out.Status.Conditions = append(out.Status.Conditions, batchv1.JobCondition{
				Type:               c.Type,
				Status:             c.Status,
				Reason:             c.Reason,
				LastTransitionTime: c.LastTransitionTime,
			})
		}
	}
	return out
}

// stripJobSpec keeps the budget fields and, of the pod template, the restart
// policy and the first container without a memory limit, which is all the
// checklist needs to know.
func stripJobSpec(spec *batchv1.JobSpec) batchv1.JobSpec {
	out := batchv1.JobSpec{
		Parallelism:             spec.Parallelism,
		Completions:             spec.Completions,
		ActiveDeadlineSeconds:   spec.ActiveDeadlineSeconds,
		PodFailurePolicy:        spec.PodFailurePolicy,
		BackoffLimit:            spec.BackoffLimit,
		BackoffLimitPerIndex:    spec.BackoffLimitPerIndex,
		TTLSecondsAfterFinished: spec.TTLSecondsAfterFinished,
		CompletionMode:          spec.CompletionMode,
		Suspend:                 spec.Suspend,
	}
	out.Template.Spec.RestartPolicy = spec.Template.Spec.RestartPolicy
	for _, c := range spec.Template.Spec.Containers {
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			out.Template.Spec.Containers = []corev1.Container{{Name: c.Name}}
			break
		}
	}
	return out
}

// stripPod keeps what the Job's values need. A succeeded pod is kept as
// metadata and phase only, and the Job labels are dropped when the owner
// reference names the Job: most pods of a busy cluster are one or the other.
func stripPod(pod *corev1.Pod) *corev1.Pod {
	meta := stripMeta(&pod.ObjectMeta)
	if len(meta.OwnerReferences) > 0 && meta.OwnerReferences[0].Kind == "Job" {
		meta.Labels = nil
	}
	if pod.Status.Phase == corev1.PodSucceeded {
		return &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: meta, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	}

	out := &corev1.Pod{
		TypeMeta:   pod.TypeMeta,
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			NodeName:      pod.Spec.NodeName,
			RestartPolicy: pod.Spec.RestartPolicy,
		},
		Status: corev1.PodStatus{
			Phase:                 pod.Status.Phase,
			Reason:                pod.Status.Reason,
			StartTime:             pod.Status.StartTime,
			InitContainerStatuses: stripContainerStatuses(pod.Status.InitContainerStatuses),
			ContainerStatuses:     stripContainerStatuses(pod.Status.ContainerStatuses),
		},
	}
	// Conditions stay whole but for their messages: podFailurePolicy rules
	// may match any condition type.
	for _, c := range pod.Status.Conditions {
		out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{
			Type:               c.Type,
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
		})
	}
	return out
}

func stripContainerStatuses(statuses []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(statuses) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(statuses))
	for i, s := range statuses {
		out[i] = corev1.ContainerStatus{
			Name:                 s.Name,
			RestartCount:         s.RestartCount,
			State:                corev1.ContainerState{Terminated: stripTerminated(s.State.Terminated)},
			LastTerminationState: corev1.ContainerState{Terminated: stripTerminated(s.LastTerminationState.Terminated)},
		}
	}
	return out
}

func stripTerminated(t *corev1.ContainerStateTerminated) *corev1.ContainerStateTerminated {
	if t == nil {
		return nil
	}
	return &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason, FinishedAt: t.FinishedAt}
}
