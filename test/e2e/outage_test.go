//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// testControllerManagerOutage stops kube-controller-manager for two slots of
// a */1 CronJob plus grace, and follows missed_runs and overdue_seconds
// through the outage and the controller's catch-up. CronJob steady ran
// before the outage; CronJob created-while-stopped never ran before it.
func testControllerManagerOutage(t *testing.T, c *cluster.Cluster, batchwatch exporter, namespace string) {
	client := c.Client()
	ctx := t.Context()
	suspendOnCleanup(t, client, namespace, "steady")

	// Stop right after the controller scheduled the current slot, so the
	// outage spans the next two slots whole.
	var lastBefore time.Time
	waitUntil(t, 90*time.Second, "CronJob steady scheduled the current slot", func(ctx context.Context) error {
		cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, "steady", metav1.GetOptions{})
		if err != nil {
			return err
		}
		current := time.Now().Truncate(time.Minute)
		if cronJob.Status.LastScheduleTime == nil || !cronJob.Status.LastScheduleTime.Time.Equal(current) {
			return fmt.Errorf("status.lastScheduleTime %v, want %s", cronJob.Status.LastScheduleTime, current.Format(time.RFC3339))
		}
		lastBefore = current
		return nil
	})
	c.StopControllerManager()
	running := false
	t.Cleanup(func() {
		// Later scenarios need the controllers.
		if !running {
			if err := c.StartControllerManager(context.Background()); err != nil {
				t.Errorf("start kube-controller-manager: %v", err)
			}
		}
	})

	createCronJob(t, client, newCronJob(namespace, "created-while-stopped", batchv1.AllowConcurrent, nil))
	createdCronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, "created-while-stopped", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createdAt := createdCronJob.CreationTimestamp.Time

	// Without a controller, batchwatch must count each slot as missed once
	// its grace has passed, and overdue_seconds must grow from the oldest.
	steady := scheduleSeries(namespace, "steady")
	created := scheduleSeries(namespace, "created-while-stopped")
	var overdue []float64
	outageEnd := nextMinute(lastBefore).Add(time.Minute + scheduleGrace)
	waitUntil(t, time.Until(outageEnd)+30*time.Second, "two slots missed during the outage", func(ctx context.Context) error {
		for _, name := range []string{"steady", "created-while-stopped"} {
			cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			last := cronJob.Status.LastScheduleTime
			if name == "steady" && (last == nil || !last.Time.Equal(lastBefore)) || name != "steady" && last != nil {
				return wrongValue("CronJob %s has status.lastScheduleTime %v while kube-controller-manager was stopped", name, last)
			}
		}
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		missed := map[string]float64{}
		for name, schedule := range map[string]struct {
			labels   map[string]string
			earliest time.Time
		}{
			"steady":                {steady, lastBefore},
			"created-while-stopped": {created, createdAt},
		} {
			if err := s.expect("batchwatch_schedule_missed_runs", with(schedule.labels, "reason", "concurrency_forbidden"), 0); err != nil {
				return wrongValue("%w", err)
			}
			value, err := s.value("batchwatch_schedule_missed_runs", with(schedule.labels, "reason", "not_started"))
			if err != nil {
				return err
			}
			if err := checkMissed(s, schedule.labels, "not_started", schedule.earliest, value); err != nil {
				return err
			}
			missed[name] = value
		}
		if value := s.count("batchwatch_schedule_overdue_seconds", steady); value > 0 {
			overdue = append(overdue, value)
		}
		if missed["steady"] < 2 || missed["created-while-stopped"] < 2 {
			return fmt.Errorf("missed slots: %v, want 2 for each CronJob", missed)
		}
		return nil
	})
	if len(overdue) < 2 || overdue[len(overdue)-1] <= overdue[0] {
		t.Errorf("%s took the values %v while slots were missed, want a rising series", series("batchwatch_schedule_overdue_seconds", steady), overdue)
	}

	if err := c.StartControllerManager(ctx); err != nil {
		t.Fatalf("start kube-controller-manager: %v", err)
	}
	running = true

	// The controller starts only the most recent missed slot. The slots
	// between the last scheduled run and that one are dropped, and
	// batchwatch counts them as skipped.
	lastAfter := waitForCatchUp(t, client, namespace, "steady", lastBefore)
	skippedSteady := minuteSlots(lastBefore, lastAfter.Add(-time.Second))
	if skippedSteady < 1 {
		t.Fatalf("CronJob steady: the controller caught up at %s, right after %s, so no slot was dropped", lastAfter, lastBefore)
	}
	checkCaughtUp(t, batchwatch, namespace, "steady", skippedSteady)

	t.Run("first-run-after-creation", func(t *testing.T) {
		lastAfter := waitForCatchUp(t, client, namespace, "created-while-stopped", createdAt)
		checkCaughtUp(t, batchwatch, namespace, "created-while-stopped", minuteSlots(createdAt, lastAfter.Add(-time.Second)))
	})
}

// waitForCatchUp waits until the controller scheduled the CronJob after
// since, checks that it created a Job only for the newest slot, and returns
// that slot.
func waitForCatchUp(t *testing.T, client kubernetes.Interface, namespace, name string, since time.Time) time.Time {
	t.Helper()
	var last time.Time
	waitUntil(t, time.Minute, "controller schedules CronJob "+name+" again", func(ctx context.Context) error {
		cronJob, err := client.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cronJob.Status.LastScheduleTime == nil || !cronJob.Status.LastScheduleTime.Time.After(since) {
			return fmt.Errorf("status.lastScheduleTime %v, want after %s", cronJob.Status.LastScheduleTime, since.Format(time.RFC3339))
		}
		last = cronJob.Status.LastScheduleTime.Time
		return nil
	})

	scheduled, err := scheduledJobs(t.Context(), client, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	for job, at := range scheduled {
		if at.After(since) && at.Before(last) {
			t.Errorf("CronJob %s: Job %s for the dropped slot %s", name, job, at.Format(time.RFC3339))
		}
	}
	return last
}

// checkCaughtUp waits until the CronJob misses nothing and has skipped
// exactly the given slots.
func checkCaughtUp(t *testing.T, batchwatch exporter, namespace, name string, skipped int) {
	t.Helper()
	labels := scheduleSeries(namespace, name)
	waitUntil(t, 30*time.Second, "missed slots turn into skipped ones", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		for _, reason := range []string{"not_started", "concurrency_forbidden"} {
			if err := s.expect("batchwatch_schedule_missed_runs", with(labels, "reason", reason), 0); err != nil {
				return err
			}
		}
		if err := s.expect("batchwatch_schedule_overdue_seconds", labels, 0); err != nil {
			return err
		}
		skippedSeries := with(labels, "reason", "not_started")
		if got := s.count("batchwatch_schedule_skipped_runs_total", skippedSeries); got != float64(skipped) {
			return fmt.Errorf("%s = %g, want %d", series("batchwatch_schedule_skipped_runs_total", skippedSeries), got, skipped)
		}
		return nil
	})
}

// testAPIServerOutage stops kube-apiserver until batchwatch shows it, then
// starts it again and checks that batchwatch recovers on its own, with the
// Jobs that changed or appeared around the outage.
func testAPIServerOutage(t *testing.T, c *cluster.Cluster, batchwatch exporter) {
	client := c.Client()
	ctx := t.Context()
	namespace := createNamespace(t, client, "apiserver-outage")

	// The pod of this Job is meant to end while the API server is down or
	// soon after it is back, so the Job completes after the outage.
	spanning := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "spans-outage", Namespace: namespace},
		Spec:       jobSpec(map[string]string{cluster.AnnotationDuration: "20s"}),
	}
	if _, err := client.BatchV1().Jobs(namespace).Create(ctx, spanning, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job: %v", err)
	}
	waitUntil(t, time.Minute, "pod of Job spans-outage running", func(ctx context.Context) error {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=spans-outage"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return fmt.Errorf("%d pods, want one Running", len(pods.Items))
		}
		return nil
	})

	// The runs of these namespaces finished before the outage, so the
	// informers' relist after it must not count them again.
	before, err := batchwatch.scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finishedBefore := finishedRunSamples(before, "retries", "deadline", "backlog")
	if len(finishedBefore) == 0 {
		t.Fatal("no finished-run series of the namespaces retries, deadline and backlog before the outage")
	}

	c.StopAPIServer()
	running := false
	t.Cleanup(func() {
		if !running {
			if err := c.StartAPIServer(context.Background()); err != nil {
				t.Errorf("start kube-apiserver: %v", err)
			}
		}
	})

	unsynced := func(ctx context.Context) error {
		// batchwatch serves /metrics from its caches, whatever the API
		// server does, so a failed scrape is a wrong result.
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return wrongValue("scrape while the API server is down: %w", err)
		}
		for _, resource := range watchedResources {
			if err := s.expect("batchwatch_informer_synced", labelSet("resource", resource), 0); err != nil {
				return err
			}
		}
		if batchwatch.Ready(ctx) {
			return errors.New("/readyz returns 200")
		}
		return nil
	}
	waitUntil(t, 30*time.Second, "batchwatch shows the API server outage", unsynced)
	holdsFor(t, 5*time.Second, "batchwatch stays unsynced while the API server is down", func(ctx context.Context) error {
		err := unsynced(ctx)
		var wrong valueError
		if errors.As(err, &wrong) {
			return err
		}
		if err != nil {
			return fmt.Errorf("recovered while the API server is down: %w", err)
		}
		return nil
	})

	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	running = true

	// These Jobs appear before batchwatch has necessarily reconnected.
	afterRestart := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "created-after-restart", Namespace: namespace},
		Spec:       jobSpec(nil),
	}
	queued := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "queued-after-restart", Namespace: namespace, Labels: map[string]string{labelKueueQueue: "after-restart"}},
		Spec:       jobSpec(nil),
	}
	queued.Spec.Suspend = ptr.To(true)
	for _, job := range []*batchv1.Job{afterRestart, queued} {
		if _, err := client.BatchV1().Jobs(namespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Job %s: %v", job.Name, err)
		}
	}
	t.Logf("Jobs created after the restart while batchwatch was ready: %t", batchwatch.Ready(ctx))

	waitUntil(t, time.Minute, "batchwatch recovers", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		for _, resource := range watchedResources {
			if err := s.expect("batchwatch_informer_synced", labelSet("resource", resource), 1); err != nil {
				return err
			}
		}
		if err := s.expect("batchwatch_collector_success", labelSet("collector", "batch"), 1); err != nil {
			return err
		}
		if !batchwatch.Ready(ctx) {
			return errors.New("/readyz is not 200")
		}
		return nil
	})

	waitForJob(t, client, namespace, "spans-outage", 2*time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
	waitForJob(t, client, namespace, "created-after-restart", time.Minute, "condition Complete",
		func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })
	waitUntil(t, time.Minute, "values after the outage", func(ctx context.Context) error {
		s, err := batchwatch.scrape(ctx)
		if err != nil {
			return err
		}
		for _, workload := range []string{"spans-outage", "created-after-restart"} {
			succeeded := with(workloadSeries(namespace, "Job", workload), "outcome", "succeeded")
			if err := s.expect("batchwatch_runs_finished_total", succeeded, 1); err != nil {
				return err
			}
		}
		queuedSeries := labelSet("namespace", namespace, "kind", "Job", "queue", "after-restart", "state", "queued")
		if err := s.expect("batchwatch_backlog_runs", queuedSeries, 1); err != nil {
			return err
		}
		if err := checkCachedObjects(ctx, client, s); err != nil {
			return err
		}
		for key, want := range finishedBefore {
			if got := finishedRunSamples(s, key.namespace)[key]; got != want {
				return wrongValue("%s{%s} = %g after the outage, want %g as before it", key.family, key.labels, got, want)
			}
		}
		return nil
	})
}

// sampleKey names one series: its family and its labels as text.
type sampleKey struct {
	family, namespace, labels string
}

// finishedRunSamples returns the values of the finished-run counters and
// histogram counts of the namespaces.
func finishedRunSamples(s scrape, namespaces ...string) map[sampleKey]float64 {
	samples := map[sampleKey]float64{}
	for _, name := range []string{"batchwatch_runs_finished_total", "batchwatch_run_duration_seconds", "batchwatch_pod_failures_total"} {
		for _, m := range s.families[name].GetMetric() {
			var namespace string
			var pairs []string
			for _, pair := range m.GetLabel() {
				if pair.GetName() == "namespace" {
					namespace = pair.GetValue()
				}
				pairs = append(pairs, fmt.Sprintf("%s=%q", pair.GetName(), pair.GetValue()))
			}
			if !slices.Contains(namespaces, namespace) {
				continue
			}
			value := m.GetCounter().GetValue()
			if m.Histogram != nil {
				value = float64(m.GetHistogram().GetSampleCount())
			}
			samples[sampleKey{family: name, namespace: namespace, labels: strings.Join(pairs, ",")}] = value
		}
	}
	return samples
}

// checkCachedObjects compares batchwatch's cache sizes with the objects the
// API server lists: the Job pods, which are all the pod informer selects.
func checkCachedObjects(ctx context.Context, client kubernetes.Interface, s scrape) error {
	cronJobs, err := client.BatchV1().CronJobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	jobs, err := client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel})
	if err != nil {
		return err
	}
	for resource, n := range map[string]int{"cronjobs": len(cronJobs.Items), "jobs": len(jobs.Items), "pods": len(pods.Items)} {
		if err := s.expect("batchwatch_cached_objects", labelSet("resource", resource), float64(n)); err != nil {
			return err
		}
	}
	return nil
}
