//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/rules"
	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

const (
	// alertingGroupWait and alertingGroupInterval replace the shipped 30s
	// and 5m of the example route to keep the test within minutes. The
	// shorter wait saves 25 s on each of the four first notifications. With
	// 5m, each resolved notification could take five minutes. The inhibition
	// check needs the interval to exceed the time BatchwatchDown takes to
	// fire after batchwatch stops: at most 15 s, a scrape interval, an
	// evaluation interval and its `for`.
	alertingGroupWait     = 5 * time.Second
	alertingGroupInterval = 30 * time.Second
	// alertingFor replaces the shipped 15m `for` of the batch alerts under
	// test. It spans two rule evaluations.
	alertingFor = 10 * time.Second
	// alertingDownFor is the `for` of BatchwatchDown, which then fires at
	// the evaluation after the first one that reads up == 0.
	alertingDownFor = 5 * time.Second
	// alertingGrace is the exporter's --schedule-grace.
	alertingGrace = 20 * time.Second
)

// TestAlertsReachWebhookReceiver runs the generated rules in Prometheus
// against batchwatch, and the example Alertmanager configuration with its
// webhooks pointed at a local receiver. It checks that the schedule and
// workload alerts reach the receiver with their labels and annotations,
// resolve when the cause is gone, and that BatchwatchDown inhibits them.
func TestAlertsReachWebhookReceiver(t *testing.T) {
	ctx := t.Context()
	c := startCluster(t)
	client := c.Client()
	namespace := createNamespace(t, client, "alerting")

	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	receiver := startWebhookReceiver(t)
	alertmanagerConfig := alertmanagerConfigWithReceiver(t, filepath.Join(root, "deploy", "alertmanager", "alertmanager.yaml"), receiver.URL(), map[string]string{
		"group_wait":     alertingGroupWait.String(),
		"group_interval": alertingGroupInterval.String(),
	})
	alertmanager, err := cluster.StartAlertmanager(ctx, alertmanagerConfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, alertmanager)

	ruleFile, rulesConfig, annotations := writeAlertingRules(t, map[string]time.Duration{
		"BatchScheduleMissed":  alertingFor,
		"BatchWorkloadFailing": alertingFor,
		"BatchwatchDown":       alertingDownFor,
	})
	exporter, err := cluster.StartBatchwatch(ctx, c.Kubeconfig(), "--schedule-grace="+alertingGrace.String())
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, exporter)
	prometheus, err := cluster.StartPrometheus(ctx, batchwatchScrapeConfig(exporter.Address(), alertmanager.Address()), []string{ruleFile})
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, prometheus)
	waitForPromQuery(t, prometheus.URL(), `up{job="batchwatch"}`, time.Minute, "successful scrape", anySampleAtLeast(1))

	// Two standalone workloads fail their first run. report recovers later,
	// and export keeps failing until BatchwatchDown inhibits its alert.
	createAlertingJob(t, client, namespace, "report-1", "report", map[string]string{cluster.AnnotationExitCode: "1"})
	createAlertingJob(t, client, namespace, "export-1", "export", map[string]string{cluster.AnnotationExitCode: "1"})
	for _, name := range []string{"report-1", "export-1"} {
		waitForJob(t, client, namespace, name, time.Minute, "condition Failed",
			func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobFailed) })
	}
	cronJob := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "sync", Namespace: namespace},
		Spec: batchv1.CronJobSpec{
			Schedule:    everyMinuteSchedule,
			JobTemplate: batchv1.JobTemplateSpec{Spec: jobSpec(nil)},
		},
	}
	if _, err := client.BatchV1().CronJobs(namespace).Create(ctx, cronJob, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CronJob sync: %v", err)
	}

	start := time.Now()
	reportLabels := map[string]string{"alertname": "BatchWorkloadFailing", "namespace": namespace, "workload": "report"}
	reportFiring, reportAlert := receiver.waitFor(t, start.Add(-time.Minute), 2*time.Minute, "firing", reportLabels)
	checkWorkloadFailingAlert(t, reportFiring, reportAlert, rulesConfig, annotations, namespace, "report")
	exportLabels := map[string]string{"alertname": "BatchWorkloadFailing", "namespace": namespace, "workload": "export"}
	exportFiring, exportAlert := receiver.waitFor(t, start.Add(-time.Minute), time.Minute, "firing", exportLabels)
	checkWorkloadFailingAlert(t, exportFiring, exportAlert, rulesConfig, annotations, namespace, "export")

	t.Run("workload alert resolves on success", func(t *testing.T) {
		createAlertingJob(t, client, namespace, "report-2", "report", nil)
		waitForJob(t, client, namespace, "report-2", time.Minute, "condition Complete",
			func(job *batchv1.Job) bool { return jobHasCondition(job, batchv1.JobComplete) })

		// The resolution waits for the next flush of the alert's group.
		_, resolved := receiver.waitFor(t, reportFiring.Received, 45*time.Second+alertingGroupInterval, "resolved", reportLabels)
		if resolved.Fingerprint != reportAlert.Fingerprint {
			t.Errorf("resolved alert has fingerprint %s and labels %v, want the firing alert's %s", resolved.Fingerprint, resolved.Labels, reportAlert.Fingerprint)
		}
		if _, alert, ok := receiver.find(exportFiring.Received, "resolved", exportLabels); ok {
			t.Errorf("BatchWorkloadFailing for workload export resolved after a run of another workload succeeded: %v", alert.Labels)
		}
	})

	t.Run("schedule alert fires and resolves", func(t *testing.T) {
		c.StopControllerManager()
		stopped := time.Now()
		missedLabels := map[string]string{"alertname": "BatchScheduleMissed", "namespace": namespace, "name": "sync"}
		// The next slot is at most a minute away. The grace, a scrape, two
		// evaluations for `for` and the group wait follow.
		missedFiring, missedAlert := receiver.waitFor(t, stopped, time.Minute+alertingGrace+alertingFor+45*time.Second, "firing", missedLabels)
		checkScheduleMissedAlert(t, missedFiring, missedAlert, rulesConfig, annotations, namespace, "sync")

		if err := c.StartControllerManager(ctx); err != nil {
			t.Fatalf("start kube-controller-manager: %v", err)
		}
		// The controller starts the latest missed slot at once, which moves
		// status.lastScheduleTime past the missed slots.
		_, resolved := receiver.waitFor(t, missedFiring.Received, 45*time.Second+alertingGroupInterval, "resolved", missedLabels)
		if resolved.Fingerprint != missedAlert.Fingerprint {
			t.Errorf("resolved alert has fingerprint %s and labels %v, want the firing alert's %s", resolved.Fingerprint, resolved.Labels, missedAlert.Fingerprint)
		}
	})

	t.Run("BatchwatchDown inhibits the batch alerts", func(t *testing.T) {
		if _, alert, ok := receiver.find(exportFiring.Received, "resolved", exportLabels); ok {
			t.Fatalf("BatchWorkloadFailing for workload export resolved before batchwatch stopped: %v", alert.Labels)
		}
		checkBatchwatchDownInhibits(t, receiver, exporter, alertmanager, exportFiring, exportLabels, rulesConfig, annotations)
	})
}

// checkBatchwatchDownInhibits stops batchwatch while the alert in
// batchFiring fires and checks that BatchwatchDown reaches the receiver and
// that the batch alert's notification is suppressed by inhibition.
//
// When batchwatch stops, Prometheus marks its series stale, so the batch
// alert resolves one evaluation later, before BatchwatchDown fires.
// Alertmanager's API does not list resolved alerts, so the inhibition shows
// in what is not sent. Alertmanager would send the resolved notification at
// the next flush of the alert's group, but mutes it when BatchwatchDown
// fires at that flush, and counts it in
// alertmanager_notifications_suppressed_total{reason="inhibition"}.
func checkBatchwatchDownInhibits(t *testing.T, receiver *webhookReceiver, exporter, alertmanager *cluster.Server, batchFiring notification, batchLabels map[string]string, cfg *rules.Config, annotations map[[2]string]ruleAnnotations) {
	t.Helper()
	ctx := t.Context()

	// A group flushes every group interval after its first notification.
	// Stopping batchwatch just after a flush leaves the whole interval for
	// BatchwatchDown to fire before the next one.
	flush := nextFlush(batchFiring.Received, time.Now())
	select {
	case <-time.After(time.Until(flush.Add(time.Second))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}

	const suppressed = "alertmanager_notifications_suppressed_total"
	inhibition := map[string]string{"reason": "inhibition"}
	before, err := alertmanagerCounter(ctx, alertmanager.URL(), suppressed, inhibition)
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := exporter.Stop(); err != nil {
		t.Fatalf("stop batchwatch: %v", err)
	}
	batchFlush := nextFlush(batchFiring.Received, stopped)

	downLabels := map[string]string{"alertname": "BatchwatchDown"}
	downFiring, down := receiver.waitFor(t, stopped, alertingGroupInterval, "firing", downLabels)
	if downFiring.Message.Receiver != "batch-critical" {
		t.Errorf("BatchwatchDown went to receiver %q, want batch-critical", downFiring.Message.Receiver)
	}
	for name, want := range map[string]string{"severity": "critical", "job": "batchwatch", "instance": exporter.Address()} {
		if got := down.Labels[name]; got != want {
			t.Errorf("BatchwatchDown label %s = %q, want %q", name, got, want)
		}
	}
	checkAlertAnnotations(t, down, cfg, annotations, "critical", "batchwatch target "+exporter.Address()+" is down", "Prometheus has no target")

	var after float64
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Until(batchFlush.Add(15*time.Second)), true, func(ctx context.Context) (bool, error) {
		after, err = alertmanagerCounter(ctx, alertmanager.URL(), suppressed, inhibition)
		return err == nil && after > before, nil
	})
	if err != nil {
		t.Errorf("%s{reason=\"inhibition\"} stayed at %g after the batch alert's group flushed at %s (batchwatch stopped at %s, BatchwatchDown received at %s)",
			suppressed, before, batchFlush.Format(time.TimeOnly), stopped.Format(time.TimeOnly), downFiring.Received.Format(time.TimeOnly))
	}
	t.Logf("batchwatch stopped at %s, BatchwatchDown received at %s, batch alert group flushed at %s, %s{reason=\"inhibition\"} %g -> %g",
		stopped.Format(time.TimeOnly), downFiring.Received.Format(time.TimeOnly), batchFlush.Format(time.TimeOnly), suppressed, before, after)
	if n, alert, ok := receiver.find(stopped, "resolved", batchLabels); ok {
		t.Errorf("the receiver got a resolved notification at %s for %v while BatchwatchDown fired", n.Received.Format(time.TimeOnly), alert.Labels)
	}
	if n, alert, ok := receiver.find(stopped, "firing", batchLabels); ok {
		t.Errorf("the receiver got a firing notification at %s for %v while BatchwatchDown fired", n.Received.Format(time.TimeOnly), alert.Labels)
	}
}

// nextFlush returns the first flush of an Alertmanager group at or after
// after, given the time of the group's first notification.
func nextFlush(first, after time.Time) time.Time {
	if !after.After(first) {
		return first
	}
	intervals := (after.Sub(first) + alertingGroupInterval - 1) / alertingGroupInterval
	return first.Add(intervals * alertingGroupInterval)
}

func checkWorkloadFailingAlert(t *testing.T, n notification, alert webhookAlert, cfg *rules.Config, annotations map[[2]string]ruleAnnotations, namespace, workload string) {
	t.Helper()
	if n.Message.Receiver != "batch-warning" {
		t.Errorf("BatchWorkloadFailing for %s went to receiver %q, want batch-warning", workload, n.Message.Receiver)
	}
	wantGroup := map[string]string{"alertname": "BatchWorkloadFailing", "namespace": namespace, "workload": workload}
	if !includesLabels(n.Message.GroupLabels, wantGroup) || len(n.Message.GroupLabels) != len(wantGroup) {
		t.Errorf("BatchWorkloadFailing for %s: group labels %v, want %v", workload, n.Message.GroupLabels, wantGroup)
	}
	for name, want := range map[string]string{"severity": "warning", "kind": "Job", "job": "batchwatch"} {
		if got := alert.Labels[name]; got != want {
			t.Errorf("BatchWorkloadFailing for %s: label %s = %q, want %q", workload, name, got, want)
		}
	}
	checkAlertAnnotations(t, alert, cfg, annotations, "warning", "Job "+namespace+"/"+workload)
}

func checkScheduleMissedAlert(t *testing.T, n notification, alert webhookAlert, cfg *rules.Config, annotations map[[2]string]ruleAnnotations, namespace, name string) {
	t.Helper()
	if n.Message.Receiver != "batch-warning" {
		t.Errorf("BatchScheduleMissed for %s went to receiver %q, want batch-warning", name, n.Message.Receiver)
	}
	wantGroup := map[string]string{"alertname": "BatchScheduleMissed", "namespace": namespace, "name": name}
	if !includesLabels(n.Message.GroupLabels, wantGroup) || len(n.Message.GroupLabels) != len(wantGroup) {
		t.Errorf("BatchScheduleMissed for %s: group labels %v, want %v", name, n.Message.GroupLabels, wantGroup)
	}
	for label, want := range map[string]string{"severity": "warning", "kind": "CronJob", "reason": "not_started", "job": "batchwatch"} {
		if got := alert.Labels[label]; got != want {
			t.Errorf("BatchScheduleMissed for %s: label %s = %q, want %q", name, label, got, want)
		}
	}
	// The description reads the overdue time with a query, which falls back
	// to "an unknown time" when the query returns nothing.
	checkAlertAnnotations(t, alert, cfg, annotations, "warning", "CronJob "+namespace+"/"+name, "an unknown time")
}

// checkAlertAnnotations compares the summary and runbook URL of a received
// alert with the generated rule, and checks that the description contains
// want and none of the texts in unwanted or of a failed template expansion.
func checkAlertAnnotations(t *testing.T, alert webhookAlert, cfg *rules.Config, annotations map[[2]string]ruleAnnotations, severity, want string, unwanted ...string) {
	t.Helper()
	name := alert.Labels["alertname"]
	rule, ok := annotations[[2]string{name, severity}]
	if !ok {
		t.Fatalf("the generated rules have no alert %s with severity %s", name, severity)
	}
	if got := alert.Annotations["summary"]; got == "" || got != rule.Summary {
		t.Errorf("%s summary %q, want the rule's %q", name, got, rule.Summary)
	}
	wantRunbook := cfg.RunbookURLBase + "#" + strings.ToLower(name)
	if got := alert.Annotations["runbook_url"]; got != wantRunbook || got != rule.RunbookURL {
		t.Errorf("%s runbook_url %q, want %q", name, got, wantRunbook)
	}
	description := alert.Annotations["description"]
	if !strings.Contains(description, want) {
		t.Errorf("%s description %q does not name %q", name, description, want)
	}
	for _, text := range append(unwanted, "<no value>", "error expanding template") {
		if strings.Contains(description, text) {
			t.Errorf("%s description %q contains %q", name, description, text)
		}
	}
}

// createAlertingJob creates a one-pod Job of the standalone workload named
// by its app.kubernetes.io/name label, with no retry, whose pod carries
// the given kwok stage annotations.
func createAlertingJob(t *testing.T, client kubernetes.Interface, namespace, name, workload string, annotations map[string]string) {
	t.Helper()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/name": workload},
		},
		Spec: jobSpec(annotations),
	}
	job.Spec.BackoffLimit = ptr.To[int32](0)
	if _, err := client.BatchV1().Jobs(namespace).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job %s: %v", name, err)
	}
}
