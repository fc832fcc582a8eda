package collector

import (
	"slices"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Pod failure reasons outside the kubelet's container reasons.
const (
	podReasonEvicted          = "Evicted"
	podReasonDeadlineExceeded = "DeadlineExceeded"
	podReasonDisrupted        = "Disrupted"
	podReasonOther            = "other"
)

// knownContainerReasons bounds the reason label: a container reason outside
// this set is reported as other.
var knownContainerReasons = []string{
	"OOMKilled", "Error", "ContainerCannotRun", "StartError", "DeadlineExceeded",
	"Completed", "ContainerStatusUnknown",
}

// podFailure returns why a failed pod failed. The pod's own reason wins
// (eviction, its activeDeadlineSeconds), then a disruption condition, then
// the first container that ended with a non-zero exit code.
func podFailure(pod *corev1.Pod) PodFailure {
	switch pod.Status.Reason {
	case podReasonEvicted, podReasonDeadlineExceeded:
		return PodFailure{Reason: pod.Status.Reason}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return PodFailure{Reason: podReasonDisrupted}
		}
	}

	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range statuses {
			if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 {
				return terminationFailure(s.State.Terminated)
			}
		}
	}
	return PodFailure{Reason: podReasonOther}
}

func terminationFailure(t *corev1.ContainerStateTerminated) PodFailure {
	reason := t.Reason
	if !slices.Contains(knownContainerReasons, reason) {
		reason = podReasonOther
	}
	return PodFailure{Reason: reason, ExitCode: exitCodeLabel(t.ExitCode)}
}

// exitCodeLabel keeps the exit_code label within the 0 to 255 a process can
// return.
func exitCodeLabel(code int32) string {
	if code < 0 || code > 255 {
		return podReasonOther
	}
	return strconv.Itoa(int(code))
}

// containerRestarts returns the restarts of each container of a pod, keyed
// by container name, with the termination that caused the latest one.
func containerRestarts(pod *corev1.Pod) map[string]containerRestart {
	restarts := map[string]containerRestart{}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range statuses {
			if s.RestartCount == 0 {
				continue
			}
			failure := PodFailure{Reason: podReasonOther}
			if s.LastTerminationState.Terminated != nil {
				failure = terminationFailure(s.LastTerminationState.Terminated)
			}
			restarts[s.Name] = containerRestart{count: s.RestartCount, failure: failure}
		}
	}
	return restarts
}

type containerRestart struct {
	count   int32
	failure PodFailure
}

// ignoredByPolicy reports whether the Job's podFailurePolicy ignores the
// failed pod, which the Job controller then neither counts nor retries
// against the budget. Rules apply in order and the first match decides,
// as in the controller.
func ignoredByPolicy(job *batchv1.Job, pod *corev1.Pod) bool {
	policy := job.Spec.PodFailurePolicy
	if policy == nil {
		return false
	}
	for _, rule := range policy.Rules {
		if ruleMatches(&rule, pod) {
			return rule.Action == batchv1.PodFailurePolicyActionIgnore
		}
	}
	return false
}

func ruleMatches(rule *batchv1.PodFailurePolicyRule, pod *corev1.Pod) bool {
	if req := rule.OnExitCodes; req != nil {
		for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
			for _, s := range statuses {
				if exitCodeMatches(req, s) {
					return true
				}
			}
		}
		return false
	}

	for _, pattern := range rule.OnPodConditions {
		status := pattern.Status
		if status == "" {
			status = corev1.ConditionTrue
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == pattern.Type && c.Status == status {
				return true
			}
		}
	}
	return false
}

// exitCodeMatches applies an onExitCodes requirement to one container. Like
// the controller, it considers only terminated containers with a non-zero
// exit code.
func exitCodeMatches(req *batchv1.PodFailurePolicyOnExitCodesRequirement, s corev1.ContainerStatus) bool {
	t := s.State.Terminated
	if t == nil || t.ExitCode == 0 {
		return false
	}
	if req.ContainerName != nil && *req.ContainerName != s.Name {
		return false
	}
	in := slices.Contains(req.Values, t.ExitCode)
	if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn {
		return !in
	}
	return in
}
