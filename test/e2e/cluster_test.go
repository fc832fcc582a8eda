//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

func TestCronJobAndRetriedJob(t *testing.T) {
	c := startCluster(t)
	client := c.Client()
	ctx := t.Context()
	namespace := createNamespace(t, client, "smoke")

	cronJob := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "every-minute", Namespace: namespace},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/1 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{
				Spec: jobSpec(map[string]string{cluster.AnnotationDuration: "2s"}),
			},
		},
	}
	if _, err := client.BatchV1().CronJobs(namespace).Create(ctx, cronJob, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CronJob: %v", err)
	}

	// Only Indexed Jobs with backoffLimitPerIndex number their attempts,
	// which the failed-attempts annotation needs.
	retried := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "retried", Namespace: namespace},
		Spec: jobSpec(map[string]string{
			cluster.AnnotationDuration:       "3s",
			cluster.AnnotationExitCode:       "1",
			cluster.AnnotationFailedAttempts: "1",
		}),
	}
	retried.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	retried.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	retried.Spec.BackoffLimit = nil
	if _, err := client.BatchV1().Jobs(namespace).Create(ctx, retried, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job: %v", err)
	}

	job := waitForJob(t, client, namespace, "retried", time.Minute, "one failed pod and no completion",
		func(job *batchv1.Job) bool {
			return job.Status.Failed == 1 && !jobHasCondition(job, batchv1.JobComplete)
		})
	if job.Status.Succeeded != 0 {
		t.Errorf("Job retried: status.succeeded = %d before the retry finished, want 0", job.Status.Succeeded)
	}
	job = waitForJob(t, client, namespace, "retried", time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
	if job.Status.Failed != 1 || job.Status.Succeeded != 1 {
		t.Errorf("Job retried: failed=%d succeeded=%d, want failed=1 succeeded=1", job.Status.Failed, job.Status.Succeeded)
	}
	checkFailedPodExitCode(t, client, namespace, "retried", 1)

	// The next minute boundary can be up to 60 s away.
	var completed string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 150*time.Second, true, func(ctx context.Context) (bool, error) {
		jobs, err := client.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, job := range jobs.Items {
			owner := metav1.GetControllerOf(&job)
			if owner != nil && owner.Kind == "CronJob" && owner.Name == "every-minute" && jobHasCondition(&job, batchv1.JobComplete) {
				completed = job.Name
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no Job of CronJob every-minute completed: %v", err)
	}

	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		cj, err := client.BatchV1().CronJobs(namespace).Get(ctx, "every-minute", metav1.GetOptions{})
		return err == nil && cj.Status.LastSuccessfulTime != nil, nil
	})
	if err != nil {
		t.Errorf("CronJob every-minute: status.lastSuccessfulTime not set after Job %s completed: %v", completed, err)
	}
}

func TestControlPlaneRestarts(t *testing.T) {
	c := startCluster(t)
	client := c.Client()
	ctx := t.Context()
	namespace := createNamespace(t, client, "restarts")

	c.StopControllerManager()
	createJob(t, client, namespace, "while-stopped")
	// Without the Job controller no pod may appear. Three seconds is several
	// times the time the controller takes to create one.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) > 0, nil
	})
	if err == nil {
		t.Fatal("a pod was created while kube-controller-manager was stopped")
	}

	if err := c.StartControllerManager(ctx); err != nil {
		t.Fatalf("start kube-controller-manager: %v", err)
	}
	waitForJob(t, client, namespace, "while-stopped", time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })

	if err := c.RestartAPIServer(ctx); err != nil {
		t.Fatalf("restart kube-apiserver: %v", err)
	}
	job, err := client.BatchV1().Jobs(namespace).Get(ctx, "while-stopped", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Job while-stopped after the API server restart: %v", err)
	}
	if !jobHasCondition(job, batchv1.JobComplete) {
		t.Errorf("Job while-stopped lost its Complete condition across the API server restart")
	}

	// The controller manager, scheduler and kwok must reconnect for a new
	// Job to complete.
	createJob(t, client, namespace, "after-restart")
	waitForJob(t, client, namespace, "after-restart", 2*time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
}

// startCluster starts a cluster that is stopped when the test ends, with
// its lifecycle logged to the test output.
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	c, err := cluster.Start(t.Context(), cluster.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, c)
	return c
}

func createNamespace(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), namespace, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	// Pods need the namespace's default service account.
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s: no default service account: %v", name, err)
	}
	return name
}

// jobSpec returns a one-pod Job spec whose pod carries the given kwok stage
// annotations.
func jobSpec(annotations map[string]string) batchv1.JobSpec {
	return batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](2),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name:  "work",
					Image: "registry.example/batch:1",
				}},
			},
		},
	}
}

func createJob(t *testing.T, client kubernetes.Interface, namespace, name string) {
	t.Helper()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       jobSpec(nil),
	}
	if _, err := client.BatchV1().Jobs(namespace).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job %s: %v", name, err)
	}
}

// waitForJob polls a Job until done returns true and returns it. It fails the
// test after timeout with the Job's last status.
func waitForJob(t *testing.T, client kubernetes.Interface, namespace, name string, timeout time.Duration, want string, done func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var last *batchv1.Job
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		job, err := client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = job
		return done(job), nil
	})
	if err != nil {
		t.Fatalf("Job %s/%s: no %s within %s: %v; last status: %s", namespace, name, want, timeout, err, describeJobStatus(last))
	}
	return last
}

func jobHasCondition(job *batchv1.Job, conditionType batchv1.JobConditionType) bool {
	for _, condition := range job.Status.Conditions {
		if condition.Type == conditionType && condition.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func describeJobStatus(job *batchv1.Job) string {
	if job == nil {
		return "(never read)"
	}
	s := fmt.Sprintf("active=%d failed=%d succeeded=%d conditions=[", job.Status.Active, job.Status.Failed, job.Status.Succeeded)
	for i, condition := range job.Status.Conditions {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%s", condition.Type, condition.Status)
	}
	return s + "]"
}

// checkFailedPodExitCode checks that the Job has exactly one Failed pod and
// that its container terminated with the given exit code.
func checkFailedPodExitCode(t *testing.T, client kubernetes.Interface, namespace, jobName string, exitCode int32) {
	t.Helper()
	pods, err := client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		t.Fatalf("list pods of Job %s: %v", jobName, err)
	}
	var failed []corev1.Pod
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodFailed {
			failed = append(failed, pod)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("Job %s: %d Failed pods, want 1", jobName, len(failed))
	}
	statuses := failed[0].Status.ContainerStatuses
	if len(statuses) != 1 || statuses[0].State.Terminated == nil {
		t.Fatalf("Failed pod %s: container statuses %+v, want one terminated container", failed[0].Name, statuses)
	}
	if got := statuses[0].State.Terminated.ExitCode; got != exitCode {
		t.Errorf("Failed pod %s: exit code %d, want %d", failed[0].Name, got, exitCode)
	}
}

func TestPodAnnotationsDrivePhases(t *testing.T) {
	c := startCluster(t)
	client := c.Client()
	ctx := t.Context()
	namespace := createNamespace(t, client, "stages")

	tests := []struct {
		name          string
		restartPolicy corev1.RestartPolicy
		annotations   map[string]string
		wantPhase     corev1.PodPhase
		wantExitCode  int32
		wantReason    string
		wantRestarts  int32
		minRuntime    time.Duration
	}{
		{
			name:          "default-succeeds",
			restartPolicy: corev1.RestartPolicyNever,
			wantPhase:     corev1.PodSucceeded,
			wantReason:    "Completed",
			minRuntime:    time.Second,
		},
		{
			name:          "duration",
			restartPolicy: corev1.RestartPolicyNever,
			annotations:   map[string]string{cluster.AnnotationDuration: "4s"},
			wantPhase:     corev1.PodSucceeded,
			wantReason:    "Completed",
			minRuntime:    4 * time.Second,
		},
		{
			name:          "exit-code",
			restartPolicy: corev1.RestartPolicyNever,
			annotations:   map[string]string{cluster.AnnotationExitCode: "3"},
			wantPhase:     corev1.PodFailed,
			wantExitCode:  3,
			wantReason:    "Error",
		},
		{
			name:          "oomkilled",
			restartPolicy: corev1.RestartPolicyNever,
			annotations:   map[string]string{cluster.AnnotationReason: "OOMKilled"},
			wantPhase:     corev1.PodFailed,
			wantExitCode:  137,
			wantReason:    "OOMKilled",
		},
		{
			name:          "restarts-then-succeeds",
			restartPolicy: corev1.RestartPolicyOnFailure,
			annotations: map[string]string{
				cluster.AnnotationExitCode:       "2",
				cluster.AnnotationFailedAttempts: "2",
			},
			wantPhase:    corev1.PodSucceeded,
			wantReason:   "Completed",
			wantRestarts: 2,
		},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: tt.name, Namespace: namespace, Annotations: tt.annotations},
			Spec: corev1.PodSpec{
				RestartPolicy: tt.restartPolicy,
				Containers:    []corev1.Container{{Name: "work", Image: "registry.example/batch:1"}},
			},
		}
		if _, err := client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", tt.name, err)
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := waitForPod(t, client, namespace, tt.name, string(tt.wantPhase), func(pod *corev1.Pod) bool {
				return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
			})
			if pod.Status.Phase != tt.wantPhase {
				t.Errorf("phase %s, want %s", pod.Status.Phase, tt.wantPhase)
			}
			if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
				t.Fatalf("container statuses %+v, want one terminated container", pod.Status.ContainerStatuses)
			}
			status := pod.Status.ContainerStatuses[0]
			terminated := status.State.Terminated
			if terminated.ExitCode != tt.wantExitCode {
				t.Errorf("exit code %d, want %d", terminated.ExitCode, tt.wantExitCode)
			}
			if terminated.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q", terminated.Reason, tt.wantReason)
			}
			if status.RestartCount != tt.wantRestarts {
				t.Errorf("restart count %d, want %d", status.RestartCount, tt.wantRestarts)
			}
			if tt.wantRestarts > 0 {
				last := status.LastTerminationState.Terminated
				if last == nil || last.ExitCode != 2 || last.Reason != "Error" {
					t.Errorf("last termination state %+v, want exit code 2 with reason Error", last)
				}
			}
			// Timestamps have one-second resolution.
			runtime := terminated.FinishedAt.Sub(terminated.StartedAt.Time)
			if runtime < tt.minRuntime-time.Second {
				t.Errorf("container ran %s, want at least %s", runtime, tt.minRuntime)
			}
		})
	}

	t.Run("restart-policy-always-runs-until-deleted", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "server", Namespace: namespace},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "serve", Image: "registry.example/server:1"}},
			},
		}
		if _, err := client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod: %v", err)
		}
		waitForPod(t, client, namespace, "server", "Running and Ready", func(pod *corev1.Pod) bool {
			return pod.Status.Phase == corev1.PodRunning && podReady(pod)
		})
		// The default pods finish after 1 s, so 3 s of Running shows that
		// no stage ends this one.
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Second, true, func(ctx context.Context) (bool, error) {
			pod, err := client.CoreV1().Pods(namespace).Get(ctx, "server", metav1.GetOptions{})
			return err == nil && pod.Status.Phase != corev1.PodRunning, nil
		})
		if err == nil {
			t.Fatal("pod with restartPolicy Always left phase Running")
		}

		if err := client.CoreV1().Pods(namespace).Delete(ctx, "server", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete pod: %v", err)
		}
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Pods(namespace).Get(ctx, "server", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("deleted pod still exists: %v", err)
		}
	})
}

// waitForPod polls a pod until done returns true and returns it.
func waitForPod(t *testing.T, client kubernetes.Interface, namespace, name, want string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = pod
		return done(pod), nil
	})
	if err != nil {
		phase := corev1.PodPhase("(never read)")
		if last != nil {
			phase = last.Status.Phase
		}
		t.Fatalf("pod %s/%s: not %s within a minute, last phase %s: %v", namespace, name, want, phase, err)
	}
	return last
}

func podReady(pod *corev1.Pod) bool {
	for _, condition := range pod.Status.Conditions {
		if condition.Type == corev1.PodReady {
			return condition.Status == corev1.ConditionTrue
		}
	}
	return false
}
