//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// scheduleGrace is batchwatch's --schedule-grace here: short, so that a
// missed slot of a */1 schedule shows within 90 seconds.
const scheduleGrace = 30 * time.Second

// everyMinute is the schedule of every CronJob in these tests.
const everyMinute = "*/1 * * * *"

// Labels and annotations that batchwatch and the Job controller read.
const (
	labelAppName        = "app.kubernetes.io/name"
	labelKueueQueue     = "kueue.x-k8s.io/queue-name"
	annotationScheduled = "batch.kubernetes.io/cronjob-scheduled-timestamp"
)

// TestExporterAgainstControllers runs batchwatch as the deploy/
// ServiceAccount against the real Job and CronJob controllers and checks
// its values against the objects they produce. The scenarios share one
// cluster, each in its own namespace. Those that stop a control-plane
// component run alone, after the others.
func TestExporterAgainstControllers(t *testing.T) {
	started := time.Now()
	c := startCluster(t)
	client := c.Client()

	kubeconfig := deployServiceAccount(t, c)
	batchwatch := startExporter(t, kubeconfig, "--schedule-grace="+scheduleGrace.String())
	batchwatch.waitReady(t, time.Minute)

	// The controller-manager outage needs a CronJob that has run, so it is
	// created now and runs while the other scenarios do.
	outageNamespace := createNamespace(t, client, "controller-manager-outage")
	createCronJob(t, client, newCronJob(outageNamespace, "steady", batchv1.AllowConcurrent, nil))

	t.Run("scenarios", func(t *testing.T) {
		t.Run("rbac", func(t *testing.T) {
			t.Parallel()
			testRBAC(t, c, batchwatch, kubeconfig)
		})
		t.Run("cronjob-schedule", func(t *testing.T) {
			t.Parallel()
			testCronJobSchedule(t, client, batchwatch)
		})
		t.Run("forbid-overrun", func(t *testing.T) {
			t.Parallel()
			testForbidOverrun(t, client, batchwatch)
		})
		t.Run("retries-and-pod-failures", func(t *testing.T) {
			t.Parallel()
			testRetriesAndPodFailures(t, client, batchwatch)
		})
		t.Run("deadline", func(t *testing.T) {
			t.Parallel()
			testDeadline(t, client, batchwatch)
		})
		t.Run("backlog", func(t *testing.T) {
			t.Parallel()
			testBacklog(t, client, batchwatch)
		})
	})
	t.Logf("parallel scenarios done after %s", time.Since(started).Round(time.Second))

	t.Run("controller-manager-outage", func(t *testing.T) {
		testControllerManagerOutage(t, c, batchwatch, outageNamespace)
	})
	t.Run("apiserver-outage", func(t *testing.T) {
		testAPIServerOutage(t, c, batchwatch)
	})
	// Last, so that the scrape holds the series of every scenario.
	t.Run("scrape-passes-promtool", func(t *testing.T) {
		testScrapeLint(t, batchwatch)
	})
	t.Logf("all scenarios done after %s", time.Since(started).Round(time.Second))
}

// testCronJobSchedule checks the schedule series of a */1 CronJob against
// its status and its Jobs at two consecutive slots.
func testCronJobSchedule(t *testing.T, client kubernetes.Interface, batchwatch exporter) {
	namespace := createNamespace(t, client, "cronjob-schedule")
	createCronJob(t, client, newCronJob(namespace, "every-minute", batchv1.AllowConcurrent, nil))

	// The first slot is up to a minute away.
	var first time.Time
	waitUntil(t, 3*time.Minute, "schedule series match the first slot", func(ctx context.Context) error {
		var err error
		first, err = checkScheduleSeries(ctx, client, batchwatch, namespace, "every-minute")
		return err
	})
	waitUntil(t, 2*time.Minute, "schedule series match the next slot", func(ctx context.Context) error {
		scheduled, err := checkScheduleSeries(ctx, client, batchwatch, namespace, "every-minute")
		if err != nil {
			return err
		}
		if !scheduled.After(first) {
			return fmt.Errorf("status.lastScheduleTime still %s", first.Format(time.RFC3339))
		}
		return nil
	})

	waitUntil(t, time.Minute, "last success matches the status", func(ctx context.Context) error {
		cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, "every-minute", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cronJob.Status.LastSuccessfulTime == nil {
			return errors.New("status.lastSuccessfulTime not set yet")
		}
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		return s.expect("batchwatch_schedule_last_success_timestamp_seconds", scheduleSeries(namespace, "every-minute"),
			float64(cronJob.Status.LastSuccessfulTime.Unix()))
	})
}

// checkScheduleSeries compares the schedule series of a healthy */1 CronJob
// with its status and newest Job, and returns status.lastScheduleTime. It
// returns a plain error while batchwatch or the status may still catch up,
// and a valueError for a value that is wrong once they agree.
func checkScheduleSeries(ctx context.Context, client kubernetes.Interface, batchwatch exporter, namespace, name string) (time.Time, error) {
	cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return time.Time{}, err
	}
	if cronJob.Status.LastScheduleTime == nil {
		return time.Time{}, errors.New("status.lastScheduleTime not set yet")
	}
	lastScheduled := cronJob.Status.LastScheduleTime.Time
	jobName, jobScheduled, err := newestScheduledJob(ctx, client, namespace, name)
	if err != nil {
		return time.Time{}, err
	}
	// The controller creates the Job before it updates the status.
	if !jobScheduled.Equal(lastScheduled) {
		return time.Time{}, fmt.Errorf("newest Job %s scheduled at %s, status.lastScheduleTime %s", jobName,
			jobScheduled.Format(time.RFC3339), lastScheduled.Format(time.RFC3339))
	}

	s, err := batchwatch.scrape(ctx)
	if err != nil {
		return time.Time{}, err
	}
	labels := scheduleSeries(namespace, name)
	if err := s.expect("batchwatch_schedule_last_scheduled_timestamp_seconds", labels, float64(lastScheduled.Unix())); err != nil {
		return time.Time{}, err
	}

	next, err := s.value("batchwatch_schedule_next_timestamp_seconds", labels)
	if err != nil {
		return time.Time{}, wrongValue("%w", err)
	}
	earliest, latest := nextMinute(s.before), nextMinute(s.after)
	if next != float64(earliest.Unix()) && next != float64(latest.Unix()) {
		return time.Time{}, wrongValue("%s = %s, want the next minute boundary %s",
			series("batchwatch_schedule_next_timestamp_seconds", labels), formatUnix(next), earliest.Format(time.RFC3339))
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"batchwatch_schedule_interval_seconds", labels, 60},
		{"batchwatch_schedule_missed_runs", with(labels, "reason", "not_started"), 0},
		{"batchwatch_schedule_missed_runs", with(labels, "reason", "concurrency_forbidden"), 0},
		{"batchwatch_schedule_overdue_seconds", labels, 0},
		{"batchwatch_schedule_suspended", labels, 0},
		{"batchwatch_schedule_info", with(labels, "schedule", everyMinute, "timezone", "UTC", "concurrency_policy", "Allow"), 1},
	}
	for _, check := range checks {
		if err := s.expect(check.name, check.labels, check.want); err != nil {
			return time.Time{}, wrongValue("%w", err)
		}
	}
	return lastScheduled, nil
}

// testForbidOverrun checks that slots a Forbid CronJob skips while its run
// overruns are missed for concurrency_forbidden, never for not_started.
func testForbidOverrun(t *testing.T, client kubernetes.Interface, batchwatch exporter) {
	namespace := createNamespace(t, client, "forbid-overrun")
	cronJob := newCronJob(namespace, "overrun", batchv1.ForbidConcurrent, map[string]string{cluster.AnnotationDuration: "30m"})
	// The run stays active for the rest of the test, so its deadline
	// series are in the final scrape.
	cronJob.Spec.JobTemplate.Spec.ActiveDeadlineSeconds = ptr.To[int64](3600)
	createCronJob(t, client, cronJob)
	labels := scheduleSeries(namespace, "overrun")

	var firstSlot time.Time
	waitUntil(t, 2*time.Minute, "first run scheduled", func(ctx context.Context) error {
		cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, "overrun", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cronJob.Status.LastScheduleTime == nil || len(cronJob.Status.Active) != 1 {
			return fmt.Errorf("status.lastScheduleTime %v, %d active runs, want one", cronJob.Status.LastScheduleTime, len(cronJob.Status.Active))
		}
		firstSlot = cronJob.Status.LastScheduleTime.Time
		return nil
	})

	// The next slot passes at firstSlot+1m and is missed once grace has passed.
	waitUntil(t, time.Minute+scheduleGrace+time.Minute, "a slot missed for concurrency_forbidden", func(ctx context.Context) error {
		cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, "overrun", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !cronJob.Status.LastScheduleTime.Time.Equal(firstSlot) {
			return wrongValue("the controller scheduled %s while the run of %s was active", cronJob.Status.LastScheduleTime.Format(time.RFC3339), firstSlot.Format(time.RFC3339))
		}
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		if err := s.expect("batchwatch_schedule_missed_runs", with(labels, "reason", "not_started"), 0); err != nil {
			return wrongValue("%w", err)
		}
		forbidden, err := s.value("batchwatch_schedule_missed_runs", with(labels, "reason", "concurrency_forbidden"))
		if err != nil {
			return err
		}
		if err := checkMissed(s, labels, "concurrency_forbidden", firstSlot, forbidden); err != nil {
			return err
		}
		if err := s.expect("batchwatch_schedule_active_runs", labels, 1); err != nil {
			return wrongValue("%w", err)
		}
		if forbidden < 1 {
			return fmt.Errorf("%s = 0, want at least 1", series("batchwatch_schedule_missed_runs", with(labels, "reason", "concurrency_forbidden")))
		}
		return nil
	})
}

// checkMissed compares a missed_runs value and overdue_seconds with the
// slots of a */1 schedule after earliest whose grace ended by the scrape.
func checkMissed(s scrape, labels map[string]string, reason string, earliest time.Time, missed float64) error {
	low, high := minuteSlots(earliest, s.before.Add(-scheduleGrace)), minuteSlots(earliest, s.after.Add(-scheduleGrace))
	missedSeries := series("batchwatch_schedule_missed_runs", with(labels, "reason", reason))
	if missed < float64(low) || missed > float64(high) {
		return wrongValue("%s = %g, want %d: the slots after %s whose %s grace has passed", missedSeries, missed, high,
			earliest.Format(time.RFC3339), scheduleGrace)
	}

	overdue, err := s.value("batchwatch_schedule_overdue_seconds", labels)
	if err != nil {
		return wrongValue("%w", err)
	}
	overdueSeries := series("batchwatch_schedule_overdue_seconds", labels)
	if missed == 0 {
		if overdue != 0 {
			return wrongValue("%s = %g with no missed slot, want 0", overdueSeries, overdue)
		}
		return nil
	}
	oldest := nextMinute(earliest)
	if overdue < s.before.Sub(oldest).Seconds()-0.01 || overdue > s.after.Sub(oldest).Seconds()+0.01 {
		return wrongValue("%s = %g, want the time since the oldest missed slot %s, %.1f s", overdueSeries, overdue,
			oldest.Format(time.RFC3339), s.after.Sub(oldest).Seconds())
	}
	return nil
}

// testRetriesAndPodFailures runs a Job whose three pods fail, the first with
// exit code 1 and the others OOMKilled, then a successful rerun of the same
// workload.
func testRetriesAndPodFailures(t *testing.T, client kubernetes.Interface, batchwatch exporter) {
	namespace := createNamespace(t, client, "retries")
	const workload = "nightly-report"
	failing := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: workload + "-", Namespace: namespace},
		Spec: jobSpec(map[string]string{
			cluster.AnnotationDuration: "4s",
			cluster.AnnotationExitCode: "1",
		}),
	}
	failing.Spec.BackoffLimit = ptr.To[int32](2)
	created, err := client.BatchV1().Jobs(namespace).Create(t.Context(), failing, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Job: %v", err)
	}
	name := created.Name
	labels := jobSeries(namespace, name, workload)

	// Every pod after the first is made to fail as OOMKilled: kwok reads
	// the annotations again when a pod changes and restarts its timer.
	var retries []float64
	waitUntil(t, 3*time.Minute, "Job fails after its retries", func(ctx context.Context) error {
		if err := markLaterPodsOOMKilled(ctx, client, namespace, name); err != nil {
			return err
		}
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		if value, ok := s.find("batchwatch_run_retries", labels); ok {
			if len(retries) == 0 || retries[len(retries)-1] != value {
				retries = append(retries, value)
			}
			if err := s.expect("batchwatch_run_retry_limit", labels, 2); err != nil {
				return wrongValue("%w", err)
			}
		}
		job, err := client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !jobHasCondition(job, batchv1.JobFailed) {
			return fmt.Errorf("Job %s not failed yet: %s", name, describeJobStatus(job))
		}
		return nil
	})
	if !slices.IsSorted(retries) || !slices.Contains(retries, 1) || !slices.Contains(retries, 2) {
		t.Errorf("%s took the values %v, want them to rise through 1 to the limit 2", series("batchwatch_run_retries", labels), retries)
	}

	job, err := client.BatchV1().Jobs(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reason := jobConditionReason(job, batchv1.JobFailed)
	if reason != "BackoffLimitExceeded" {
		t.Fatalf("Job %s failed with reason %q, want BackoffLimitExceeded", name, reason)
	}
	failures := podFailureCounts(t, client, namespace, name)
	if failures[[2]string{"Error", "1"}] != 1 || failures[[2]string{"OOMKilled", "137"}] != 2 {
		t.Fatalf("failed pods of Job %s by reason and exit code: %v, want one Error 1 and two OOMKilled 137", name, failures)
	}

	waitUntil(t, 30*time.Second, "failed run counted", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		if _, ok := s.find("batchwatch_run_retries", labels); ok {
			return fmt.Errorf("%s still present after the Job failed", series("batchwatch_run_retries", labels))
		}
		finished := with(workloadSeries(namespace, "Job", workload), "outcome", "failed", "reason", reason)
		if err := s.expect("batchwatch_runs_finished_total", finished, 1); err != nil {
			return err
		}
		for key, n := range failures {
			failed := with(workloadSeries(namespace, "Job", workload), "reason", key[0], "exit_code", key[1])
			if err := s.expect("batchwatch_pod_failures_total", failed, float64(n)); err != nil {
				return err
			}
		}
		if err := s.expect("batchwatch_workload_last_run_failed", workloadSeries(namespace, "Job", workload), 1); err != nil {
			return err
		}
		return s.expect("batchwatch_workload_consecutive_failures", workloadSeries(namespace, "Job", workload), 1)
	})

	rerun := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: workload + "-", Namespace: namespace},
		Spec:       jobSpec(nil),
	}
	created, err = client.BatchV1().Jobs(namespace).Create(t.Context(), rerun, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Job: %v", err)
	}
	waitForJob(t, client, namespace, created.Name, time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
	waitForWorkloadRecovery(t, batchwatch, namespace, workload)
}

// markLaterPodsOOMKilled sets the OOMKilled annotations on every pod of the
// Job but the first that has not ended yet.
func markLaterPodsOOMKilled(ctx context.Context, client kubernetes.Interface, namespace, jobName string) error {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		return err
	}
	items := pods.Items
	slices.SortFunc(items, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	for i := 1; i < len(items); i++ {
		pod := &items[i]
		if pod.Annotations[cluster.AnnotationReason] == "OOMKilled" || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			continue
		}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"OOMKilled",%q:"137"}}}`, cluster.AnnotationReason, cluster.AnnotationExitCode)
		if _, err := client.CoreV1().Pods(namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("annotate pod %s: %w", pod.Name, err)
		}
	}
	return nil
}

// podFailureCounts counts the Job's failed pods by the reason and exit code
// of their terminated container.
func podFailureCounts(t *testing.T, client kubernetes.Interface, namespace, jobName string) map[[2]string]int {
	t.Helper()
	pods, err := client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		t.Fatalf("list pods of Job %s: %v", jobName, err)
	}
	counts := map[[2]string]int{}
	for _, pod := range pods.Items {
		if pod.Status.Phase != corev1.PodFailed {
			continue
		}
		for _, status := range pod.Status.ContainerStatuses {
			if terminated := status.State.Terminated; terminated != nil && terminated.ExitCode != 0 {
				counts[[2]string{terminated.Reason, fmt.Sprint(terminated.ExitCode)}]++
			}
		}
	}
	return counts
}

// waitForWorkloadRecovery waits until the workload's latest run is a success.
func waitForWorkloadRecovery(t *testing.T, batchwatch exporter, namespace, workload string) {
	t.Helper()
	labels := workloadSeries(namespace, "Job", workload)
	waitUntil(t, 30*time.Second, "successful rerun clears the failure", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		if err := s.expect("batchwatch_runs_finished_total", with(labels, "outcome", "succeeded"), 1); err != nil {
			return err
		}
		if err := s.expect("batchwatch_workload_last_run_failed", labels, 0); err != nil {
			return err
		}
		return s.expect("batchwatch_workload_consecutive_failures", labels, 0)
	})
}

// testDeadline runs a Job whose pod outlives its activeDeadlineSeconds and
// follows the deadline utilization until the controller fails it.
func testDeadline(t *testing.T, client kubernetes.Interface, batchwatch exporter) {
	namespace := createNamespace(t, client, "deadline")
	const (
		workload = "import"
		deadline = 40
	)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "import-1", Namespace: namespace, Labels: map[string]string{labelAppName: workload}},
		Spec:       jobSpec(map[string]string{cluster.AnnotationDuration: "10m"}),
	}
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](deadline)
	if _, err := client.BatchV1().Jobs(namespace).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job: %v", err)
	}
	labels := jobSeries(namespace, "import-1", workload)

	var ratios []float64
	waitUntil(t, 2*deadline*time.Second, "Job fails at its deadline", func(ctx context.Context) error {
		job, err := client.BatchV1().Jobs(namespace).Get(ctx, "import-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if jobHasCondition(job, batchv1.JobFailed) {
			return nil
		}
		if job.Status.StartTime == nil {
			return errors.New("Job import-1 has no status.startTime yet")
		}
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		ratio, ok := s.find("batchwatch_run_deadline_utilization_ratio", labels)
		if !ok {
			return fmt.Errorf("no series %s", series("batchwatch_run_deadline_utilization_ratio", labels))
		}
		start := job.Status.StartTime.Time
		low, high := s.before.Sub(start).Seconds()/deadline, s.after.Sub(start).Seconds()/deadline
		if ratio < low-0.001 || ratio > high+0.001 {
			return wrongValue("%s = %.3f, want the time since status.startTime %s over %d s, %.3f",
				series("batchwatch_run_deadline_utilization_ratio", labels), ratio, start.Format(time.RFC3339), deadline, high)
		}
		ratios = append(ratios, ratio)
		return fmt.Errorf("Job import-1 not failed yet, utilization %.3f", ratio)
	})
	if len(ratios) < 2 || !slices.IsSorted(ratios) || ratios[0] >= ratios[len(ratios)-1] {
		t.Errorf("%s took the values %v, want a rising series", series("batchwatch_run_deadline_utilization_ratio", labels), ratios)
	}
	// Samples come every half second, so the last one is close to 1.
	if len(ratios) > 0 && ratios[len(ratios)-1] < 0.9 {
		t.Errorf("last utilization before the deadline %.3f, want at least 0.9", ratios[len(ratios)-1])
	}

	failed, err := client.BatchV1().Jobs(namespace).Get(t.Context(), "import-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if reason := jobConditionReason(failed, batchv1.JobFailed); reason != "DeadlineExceeded" {
		t.Fatalf("Job import-1 failed with reason %q, want DeadlineExceeded", reason)
	}
	waitUntil(t, 30*time.Second, "run finished with DeadlineExceeded", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		if _, ok := s.find("batchwatch_run_deadline_utilization_ratio", labels); ok {
			return fmt.Errorf("%s still present after the Job failed", series("batchwatch_run_deadline_utilization_ratio", labels))
		}
		finished := with(workloadSeries(namespace, "Job", workload), "outcome", "failed", "reason", "DeadlineExceeded")
		if err := s.expect("batchwatch_runs_finished_total", finished, 1); err != nil {
			return err
		}
		return s.expect("batchwatch_workload_last_run_failed", workloadSeries(namespace, "Job", workload), 1)
	})

	// A rerun with another name but the same app.kubernetes.io/name label
	// belongs to the same workload.
	rerun := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "import-2", Namespace: namespace, Labels: map[string]string{labelAppName: workload}},
		Spec:       jobSpec(nil),
	}
	if _, err := client.BatchV1().Jobs(namespace).Create(t.Context(), rerun, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job: %v", err)
	}
	waitForJob(t, client, namespace, "import-2", time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
	waitForWorkloadRecovery(t, batchwatch, namespace, workload)
}

// testBacklog checks a Kueue-queued suspended Job and two Jobs whose pods no
// node can take.
func testBacklog(t *testing.T, client kubernetes.Interface, batchwatch exporter) {
	namespace := createNamespace(t, client, "backlog")
	ctx := t.Context()
	const queue = "team-a"

	queued := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "queued", Namespace: namespace, Labels: map[string]string{labelKueueQueue: queue}},
		Spec:       jobSpec(nil),
	}
	queued.Spec.Suspend = ptr.To(true)
	noNode := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "no-matching-node", Namespace: namespace},
		Spec:       jobSpec(nil),
	}
	noNode.Spec.Template.Spec.NodeSelector = map[string]string{"batchwatch.test/pool": "absent"}
	tooLarge := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "too-large", Namespace: namespace},
		Spec:       jobSpec(nil),
	}
	// The fake nodes have 32 CPUs.
	tooLarge.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}
	for _, job := range []*batchv1.Job{queued, noNode, tooLarge} {
		if _, err := client.BatchV1().Jobs(namespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Job %s: %v", job.Name, err)
		}
	}

	var oldestPending time.Time
	waitUntil(t, time.Minute, "scheduler rejects the pods", func(ctx context.Context) error {
		oldestPending = time.Time{}
		for _, name := range []string{"no-matching-node", "too-large"} {
			pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
			if err != nil {
				return err
			}
			if len(pods.Items) != 1 || !podUnschedulable(&pods.Items[0]) {
				return fmt.Errorf("Job %s: %d pods, want one that the scheduler marked Unschedulable", name, len(pods.Items))
			}
			if created := pods.Items[0].CreationTimestamp.Time; oldestPending.IsZero() || created.Before(oldestPending) {
				oldestPending = created
			}
		}
		return nil
	})
	queuedLabels := labelSet("namespace", namespace, "kind", "Job", "queue", queue)
	pendingLabels := labelSet("namespace", namespace, "kind", "Job", "queue", "")
	checkBacklog := func(ctx context.Context) (queuedWait, pendingWait float64, err error) {
		queuedJob, err := client.BatchV1().Jobs(namespace).Get(ctx, "queued", metav1.GetOptions{})
		if err != nil {
			return 0, 0, err
		}
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return 0, 0, err
		}
		// The wait counts from the suspension: the Suspended condition
		// once the controller records it, the creation before that. The
		// condition may appear at any time until the scrape.
		queuedFrom, queuedTo := queuedJob.CreationTimestamp.Time, s.after
		if condition := jobCondition(queuedJob, batchv1.JobSuspended); condition != nil {
			queuedTo = condition.LastTransitionTime.Time
		}
		if err := s.expect("batchwatch_backlog_runs", with(queuedLabels, "state", "queued"), 1); err != nil {
			return 0, 0, err
		}
		if err := s.expect("batchwatch_backlog_runs", with(pendingLabels, "state", "pending"), 2); err != nil {
			return 0, 0, err
		}
		if _, ok := s.find("batchwatch_backlog_runs", with(pendingLabels, "state", "queued")); ok {
			return 0, 0, wrongValue("unscheduled Jobs counted as queued: %s present", series("batchwatch_backlog_runs", with(pendingLabels, "state", "queued")))
		}
		queuedWait, err = s.value("batchwatch_backlog_oldest_wait_seconds", queuedLabels)
		if err != nil {
			return 0, 0, wrongValue("%w", err)
		}
		if queuedWait < s.before.Sub(queuedTo).Seconds()-0.01 || queuedWait > s.after.Sub(queuedFrom).Seconds()+0.01 {
			return 0, 0, wrongValue("%s = %g, want the time since Job queued was suspended, %.0f s",
				series("batchwatch_backlog_oldest_wait_seconds", queuedLabels), queuedWait, s.after.Sub(queuedFrom).Seconds())
		}
		pendingWait, err = s.value("batchwatch_backlog_oldest_wait_seconds", pendingLabels)
		if err != nil {
			return 0, 0, wrongValue("%w", err)
		}
		if pendingWait < s.before.Sub(oldestPending).Seconds()-0.01 || pendingWait > s.after.Sub(oldestPending).Seconds()+0.01 {
			return 0, 0, wrongValue("%s = %g, want the time since the oldest unscheduled pod was created at %s, %.1f s",
				series("batchwatch_backlog_oldest_wait_seconds", pendingLabels), pendingWait, oldestPending.Format(time.RFC3339), s.after.Sub(oldestPending).Seconds())
		}
		return queuedWait, pendingWait, nil
	}

	var firstQueued, firstPending float64
	waitUntil(t, 30*time.Second, "backlog series present", func(ctx context.Context) error {
		var err error
		firstQueued, firstPending, err = checkBacklog(ctx)
		return err
	})
	waitUntil(t, 30*time.Second, "backlog waits rise", func(ctx context.Context) error {
		queuedWait, pendingWait, err := checkBacklog(ctx)
		if err != nil {
			return err
		}
		if queuedWait < firstQueued+2 || pendingWait < firstPending+2 {
			return fmt.Errorf("waits %g (queued) and %g (pending), want both 2 s above %g and %g", queuedWait, pendingWait, firstQueued, firstPending)
		}
		return nil
	})

	// Once admitted, the Job leaves the queue.
	patch := []byte(`{"spec":{"suspend":false}}`)
	if _, err := client.BatchV1().Jobs(namespace).Patch(ctx, "queued", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("resume Job queued: %v", err)
	}
	waitForJob(t, client, namespace, "queued", time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
	waitUntil(t, 30*time.Second, "queue empty after the Job ran", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		for _, name := range []string{"batchwatch_backlog_runs", "batchwatch_backlog_oldest_wait_seconds"} {
			if _, ok := s.find(name, queuedLabels); ok {
				return fmt.Errorf("%s still present", series(name, queuedLabels))
			}
		}
		return s.expect("batchwatch_backlog_runs", with(pendingLabels, "state", "pending"), 2)
	})
}

func podUnschedulable(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodPending || pod.Spec.NodeName != "" {
		return false
	}
	for _, condition := range pod.Status.Conditions {
		if condition.Type == corev1.PodScheduled {
			return condition.Status == corev1.ConditionFalse && condition.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// producedFamilies are the families that the scenarios above produce: by the
// end, each has at least one series.
var producedFamilies = []string{
	"batchwatch_schedule_info",
	"batchwatch_schedule_suspended",
	"batchwatch_schedule_invalid",
	"batchwatch_schedule_last_scheduled_timestamp_seconds",
	"batchwatch_schedule_last_success_timestamp_seconds",
	"batchwatch_schedule_next_timestamp_seconds",
	"batchwatch_schedule_interval_seconds",
	"batchwatch_schedule_missed_runs",
	"batchwatch_schedule_overdue_seconds",
	"batchwatch_schedule_skipped_runs_total",
	"batchwatch_schedule_active_runs",
	"batchwatch_workload_last_run_failed",
	"batchwatch_workload_consecutive_failures",
	"batchwatch_run_deadline_utilization_ratio",
	"batchwatch_run_elapsed_seconds",
	"batchwatch_run_retries",
	"batchwatch_run_retry_limit",
	"batchwatch_runs_finished_total",
	"batchwatch_run_duration_seconds",
	"batchwatch_pod_failures_total",
	"batchwatch_backlog_runs",
	"batchwatch_backlog_oldest_wait_seconds",
	"batchwatch_spec_check_failed",
	"batchwatch_informer_synced",
	"batchwatch_cached_objects",
	"batchwatch_collector_success",
	"batchwatch_scrape_duration_seconds",
	"batchwatch_informer_events_total",
	"batchwatch_watch_errors_total",
	"batchwatch_build_info",
}

// testScrapeLint pipes a full scrape into `promtool check metrics`, and
// checks that the scrape holds every family the scenarios produce and that
// docs/metrics.md lists each of them.
func testScrapeLint(t *testing.T, batchwatch exporter) {
	ctx := t.Context()
	// Object series exist only while the caches are synced.
	waitUntil(t, time.Minute, "batchwatch synced", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		return s.expect("batchwatch_collector_success", labelSet("collector", "batch"), 1)
	})
	body, err := batchwatch.rawMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	promtool, err := cluster.BinaryPath("promtool")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			t.Errorf("promtool check metrics: %s", line)
		}
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	documented := documentedFamilies(t)
	for _, name := range producedFamilies {
		if _, ok := families[name]; !ok {
			t.Errorf("family %s is not in the scrape", name)
		}
		if !slices.Contains(documented, name) {
			t.Errorf("family %s is not listed in docs/metrics.md", name)
		}
	}
}

// documentedFamilies returns the family names of the table in
// docs/metrics.md.
func documentedFamilies(t *testing.T) []string {
	t.Helper()
	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		rest, ok := strings.CutPrefix(scanner.Text(), "| `batchwatch_")
		if !ok {
			continue
		}
		name, _, ok := strings.Cut(rest, "`")
		if ok {
			names = append(names, "batchwatch_"+name)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// newCronJob returns a */1 CronJob whose pods carry the given kwok stage
// annotations.
func newCronJob(namespace, name string, policy batchv1.ConcurrencyPolicy, annotations map[string]string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: batchv1.CronJobSpec{
			Schedule:          everyMinute,
			ConcurrencyPolicy: policy,
			JobTemplate:       batchv1.JobTemplateSpec{Spec: jobSpec(annotations)},
		},
	}
}

// createCronJob creates a CronJob and suspends it when the test ends, so it
// starts no runs during later scenarios.
func createCronJob(t *testing.T, client kubernetes.Interface, cronJob *batchv1.CronJob) {
	t.Helper()
	if _, err := client.BatchV1().CronJobs(cronJob.Namespace).Create(t.Context(), cronJob, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CronJob %s: %v", cronJob.Name, err)
	}
	if cronJob.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent {
		// A Forbid CronJob whose run outlives the test starts no other.
		return
	}
	suspendOnCleanup(t, client, cronJob.Namespace, cronJob.Name)
}

// suspendOnCleanup suspends the CronJob when the test ends.
func suspendOnCleanup(t *testing.T, client kubernetes.Interface, namespace, name string) {
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		patch := []byte(`{"spec":{"suspend":true}}`)
		if _, err := client.BatchV1().CronJobs(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Errorf("suspend CronJob %s: %v", name, err)
		}
	})
}

// newestScheduledJob returns the CronJob's Job with the latest
// scheduled-timestamp annotation.
func newestScheduledJob(ctx context.Context, client kubernetes.Interface, namespace, cronJobName string) (string, time.Time, error) {
	scheduled, err := scheduledJobs(ctx, client, namespace, cronJobName)
	if err != nil {
		return "", time.Time{}, err
	}
	var name string
	var newest time.Time
	for jobName, at := range scheduled {
		if at.After(newest) {
			name, newest = jobName, at
		}
	}
	if name == "" {
		return "", time.Time{}, fmt.Errorf("CronJob %s has no Job yet", cronJobName)
	}
	return name, newest, nil
}

// scheduledJobs returns the slot of each Job of the CronJob, from the
// annotation the controller sets.
func scheduledJobs(ctx context.Context, client kubernetes.Interface, namespace, cronJobName string) (map[string]time.Time, error) {
	jobs, err := client.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	scheduled := map[string]time.Time{}
	for _, job := range jobs.Items {
		owner := metav1.GetControllerOf(&job)
		if owner == nil || owner.Kind != "CronJob" || owner.Name != cronJobName {
			continue
		}
		value, ok := job.Annotations[annotationScheduled]
		if !ok {
			return nil, fmt.Errorf("Job %s has no %s annotation", job.Name, annotationScheduled)
		}
		at, err := time.Parse(time.RFC3339, value)
		if err != nil {
			return nil, fmt.Errorf("Job %s: invalid %s annotation: %w", job.Name, annotationScheduled, err)
		}
		scheduled[job.Name] = at
	}
	return scheduled, nil
}

func jobCondition(job *batchv1.Job, conditionType batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == conditionType && job.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func jobConditionReason(job *batchv1.Job, conditionType batchv1.JobConditionType) string {
	if condition := jobCondition(job, conditionType); condition != nil {
		return condition.Reason
	}
	return ""
}

// nextMinute returns the first minute boundary after t: the next slot of a
// */1 schedule.
func nextMinute(t time.Time) time.Time {
	return t.Truncate(time.Minute).Add(time.Minute)
}

// minuteSlots counts the slots of a */1 schedule in (after, until].
func minuteSlots(after, until time.Time) int {
	first := nextMinute(after)
	if first.After(until) {
		return 0
	}
	return int(until.Sub(first)/time.Minute) + 1
}

func formatUnix(seconds float64) string {
	whole, fraction := math.Modf(seconds)
	return time.Unix(int64(whole), int64(fraction*1e9)).UTC().Format(time.RFC3339Nano)
}
