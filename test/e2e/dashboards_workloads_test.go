//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

const (
	// dashboardsGrace is the exporter's --schedule-grace in the dashboards
	// test.
	dashboardsGrace = 20 * time.Second
	// everyMinuteSchedule is a cron expression with a slot every minute.
	everyMinuteSchedule = "*/1 * * * *"
)

// newWorkloadJob returns a one-pod Job without retries of the standalone
// workload named by its app.kubernetes.io/name label, whose pod carries the
// given kwok stage annotations.
func newWorkloadJob(namespace, name, workload string, annotations map[string]string) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/name": workload},
		},
		Spec: jobSpec(annotations),
	}
	job.Spec.BackoffLimit = ptr.To[int32](0)
	return job
}

func createJobObject(t *testing.T, client kubernetes.Interface, job *batchv1.Job) {
	t.Helper()
	if _, err := client.BatchV1().Jobs(job.Namespace).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job %s: %v", job.Name, err)
	}
}

// newDashboardsCronJob returns a CronJob whose runs carry the given kwok
// stage annotations.
func newDashboardsCronJob(namespace, name, schedule string, policy batchv1.ConcurrencyPolicy, annotations map[string]string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: policy,
			JobTemplate:       batchv1.JobTemplateSpec{Spec: jobSpec(annotations)},
		},
	}
}

// createDashboardsWorkloads creates, with the controller manager running,
// objects that give every dashboard panel data, and stops the controller
// manager once the active runs have started. Its outage keeps those runs
// active past their deadline and retry limit, and makes the next slot of
// CronJob report a missed one. It returns when the controller manager
// stopped.
func createDashboardsWorkloads(t *testing.T, c *cluster.Cluster, prometheusURL, namespace string) {
	t.Helper()
	ctx := t.Context()
	client := c.Client()

	// CronJobs: report runs short Jobs and misses its slots while the
	// controller manager is stopped. sync forbids concurrent runs and has
	// a long manual run, so its slots are skipped by policy. archive is
	// suspended. leap-day names 31 February, which the API server accepts
	// but which never comes, so batchwatch reports it invalid.
	cronJobs := []*batchv1.CronJob{
		newDashboardsCronJob(namespace, "report", everyMinuteSchedule, batchv1.AllowConcurrent, nil),
		newDashboardsCronJob(namespace, "sync", everyMinuteSchedule, batchv1.ForbidConcurrent, map[string]string{cluster.AnnotationDuration: "10m"}),
		newDashboardsCronJob(namespace, "archive", everyMinuteSchedule, batchv1.AllowConcurrent, nil),
		newDashboardsCronJob(namespace, "leap-day", "0 0 31 2 *", batchv1.AllowConcurrent, nil),
	}
	cronJobs[2].Spec.Suspend = ptr.To(true)
	for _, cronJob := range cronJobs {
		if _, err := client.BatchV1().CronJobs(namespace).Create(ctx, cronJob, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CronJob %s: %v", cronJob.Name, err)
		}
	}
	for _, run := range [][2]string{{"report-manual", "report"}, {"sync-manual", "sync"}} {
		if _, err := c.Kubectl(ctx, "create", "job", run[0], "--from=cronjob/"+run[1], "--namespace="+namespace); err != nil {
			t.Fatal(err)
		}
	}

	// Finished runs: two runs of each workload, one after the other. The
	// counters of finished runs and pod failures appear with their first
	// value, and increase() reads a change only from the second on, so
	// Prometheus must scrape between the two runs.
	finished := []struct {
		workload    string
		annotations map[string]string
		condition   batchv1.JobConditionType
	}{
		{"etl", map[string]string{cluster.AnnotationDuration: "2s"}, batchv1.JobComplete},
		{"import", map[string]string{cluster.AnnotationExitCode: "1"}, batchv1.JobFailed},
		{"transcode", map[string]string{cluster.AnnotationReason: "OOMKilled"}, batchv1.JobFailed},
	}
	for run := 1; run <= 2; run++ {
		for _, f := range finished {
			createJobObject(t, client, newWorkloadJob(namespace, fmt.Sprintf("%s-%d", f.workload, run), f.workload, f.annotations))
		}
		for _, f := range finished {
			name := fmt.Sprintf("%s-%d", f.workload, run)
			waitForJob(t, client, namespace, name, time.Minute, "condition "+string(f.condition),
				func(job *batchv1.Job) bool { return jobHasCondition(job, f.condition) })
			expr := fmt.Sprintf(`sum(batchwatch_runs_finished_total{namespace=%q, workload=%q})`, namespace, f.workload)
			waitForPromQuery(t, prometheusURL, expr, time.Minute, fmt.Sprintf("%d finished runs", run), anySampleAtLeast(float64(run)))
		}
	}
	waitForJob(t, client, namespace, "report-manual", time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })

	// Runs waiting to start: a suspended Job is queued, and a Job whose pod
	// no node can take is pending.
	queued := newWorkloadJob(namespace, "queued", "backfill", nil)
	queued.Spec.Suspend = ptr.To(true)
	createJobObject(t, client, queued)
	pending := newWorkloadJob(namespace, "pending", "gpu-train", nil)
	pending.Spec.Template.Spec.NodeSelector = map[string]string{"batchwatch.test/pool": "reserved"}
	createJobObject(t, client, pending)

	// Active runs: one with a 40 s deadline and a long pod, and one whose
	// container restarts every 3 s against a limit of 5. The controller
	// manager would end both, at the deadline and at the fifth restart.
	deadline := newWorkloadJob(namespace, "deadline", "reindex", map[string]string{cluster.AnnotationDuration: "10m"})
	deadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](40)
	createJobObject(t, client, deadline)
	retries := newWorkloadJob(namespace, "retries", "flaky-upload", map[string]string{
		cluster.AnnotationDuration:       "3s",
		cluster.AnnotationExitCode:       "1",
		cluster.AnnotationFailedAttempts: "1000",
	})
	retries.Spec.BackoffLimit = ptr.To[int32](5)
	retries.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	createJobObject(t, client, retries)

	for _, name := range []string{"pending", "deadline", "retries", "sync-manual"} {
		waitForJob(t, client, namespace, name, time.Minute, "start time and an active pod",
			func(job *batchv1.Job) bool { return job.Status.StartTime != nil && job.Status.Active == 1 })
	}
	c.StopControllerManager()
}
