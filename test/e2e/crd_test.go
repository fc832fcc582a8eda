//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// The custom resources of the engines, as batchwatch's discovery finds them.
var (
	workflowsResource     = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}
	cronWorkflowsResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "cronworkflows"}
	sparkAppsResource     = schema.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"}
	scheduledSparkAppsRes = schema.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "scheduledsparkapplications"}
)

// crdDiscoveryWait bounds the wait for batchwatch to act on an installed or
// removed CRD: it polls discovery every 30 seconds, then lists the resource.
const crdDiscoveryWait = 2 * time.Minute

// TestArgoAndSparkResources runs the batchwatch binary against an API server
// that serves minimal Argo Workflows CRDs from the start and gets the
// spark-operator CRDs while batchwatch runs. No controller acts on the
// objects: the test writes their status as the controllers would.
func TestArgoAndSparkResources(t *testing.T) {
	c := startCluster(t)
	client := c.Client()
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatalf("create dynamic client: %v", err)
	}
	namespace := createNamespace(t, client, "engines")

	installCRDs(t, c, "argoproj.io_cronworkflows.yaml", "argoproj.io_workflows.yaml")
	now := time.Now().UTC()

	// A CronWorkflow with two schedules in Tokyo that ran just now; its
	// workflow is on the third attempt of a step that failed twice.
	twoSchedules := createCustomResource(t, dyn, cronWorkflowsResource, namespace, `
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: two-schedules}
spec:
  schedules: ["0 6 * * *", "0 18 * * *"]
  timezone: Asia/Tokyo
  startingDeadlineSeconds: 600
  concurrencyPolicy: Forbid
  workflowSpec: {entrypoint: main, activeDeadlineSeconds: 3600}
status:
  lastScheduledTime: %q
`, utcRFC3339(now))
	createCustomResource(t, dyn, workflowsResource, namespace, `
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: two-schedules-running
  labels: {workflows.argoproj.io/cron-workflow: two-schedules}
  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: CronWorkflow, name: two-schedules, uid: %q, controller: true}]
spec:
  entrypoint: main
  activeDeadlineSeconds: 3600
  templates:
  - name: main
  - name: extract
    retryStrategy: {limit: "3"}
status:
  phase: Running
  startedAt: %q
  nodes:
    two-schedules-running: {type: Steps, phase: Running, templateName: main, children: [g0, g1]}
    g0: {type: StepGroup, phase: Failed, children: [r]}
    g1: {type: StepGroup, phase: Running, children: [r]}
    r: {type: Retry, phase: Running, templateName: extract, children: [a0, a1, a2]}
    a0: {type: Pod, phase: Failed, templateName: extract}
    a1: {type: Pod, phase: Error, templateName: extract}
    a2: {type: Pod, phase: Running, templateName: extract}
`, twoSchedules.GetUID(), utcRFC3339(now.Add(-30*time.Minute)))
	// A run that failed before batchwatch started; it is retried by hand
	// later in the test.
	createCustomResource(t, dyn, workflowsResource, namespace, `
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: two-schedules-retried
  labels: {workflows.argoproj.io/cron-workflow: two-schedules}
spec: {entrypoint: main}
status: {phase: Failed, startedAt: %q, finishedAt: %q}
`, utcRFC3339(now.Add(-3*time.Hour)), utcRFC3339(now.Add(-2*time.Hour)))
	// A CronWorkflow whose last slot was an hour ago, with no workflow since.
	createCustomResource(t, dyn, cronWorkflowsResource, namespace, `
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: every-five-minutes}
spec:
  schedule: "*/5 * * * *"
  workflowSpec: {entrypoint: main}
status: {lastScheduledTime: %q}
`, utcRFC3339(now.Add(-time.Hour)))
	createCustomResource(t, dyn, workflowsResource, namespace, `
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: monthly-report-x7k2p
  generateName: monthly-report-
spec: {workflowTemplateRef: {name: monthly-report}}
status: {phase: Pending}
`)
	createCustomResource(t, dyn, workflowsResource, namespace, `
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: bad-deadline}
spec: {entrypoint: main, activeDeadlineSeconds: soon}
status: {phase: Running, startedAt: %q}
`, utcRFC3339(now))

	bw := startBatchwatchForCRDs(t, c)

	waitForScrape(t, bw, time.Minute, "Argo series", func(s familySet) error {
		return errors.Join(
			s.expect("batchwatch_informer_synced", map[string]string{"resource": "workflows"}, 1),
			s.expect("batchwatch_informer_synced", map[string]string{"resource": "cronworkflows"}, 1),
			s.expect("batchwatch_collector_success", map[string]string{"collector": "argo"}, 1),
			// The spark-operator CRDs are not installed yet, so that engine
			// reports nothing at all.
			s.expectAbsent("batchwatch_collector_success", map[string]string{"collector": "spark"}),
			s.expect("batchwatch_schedule_info", map[string]string{
				"namespace": namespace, "kind": "CronWorkflow", "name": "two-schedules",
				"schedule": "0 6 * * *, 0 18 * * *", "timezone": "Asia/Tokyo", "concurrency_policy": "Forbid",
			}, 1),
			s.expect("batchwatch_schedule_invalid", map[string]string{"namespace": namespace, "name": "two-schedules", "reason": ""}, 0),
			s.expect("batchwatch_schedule_next_timestamp_seconds", map[string]string{"namespace": namespace, "name": "two-schedules"},
				float64(nextCronSlot(t, "Asia/Tokyo", time.Now(), "0 6 * * *", "0 18 * * *").Unix())),
			s.expect("batchwatch_schedule_missed_runs", map[string]string{"namespace": namespace, "name": "two-schedules", "reason": "not_started"}, 0),
			s.expect("batchwatch_schedule_active_runs", map[string]string{"namespace": namespace, "name": "two-schedules"}, 1),
			s.expect("batchwatch_run_retries", map[string]string{"namespace": namespace, "kind": "Workflow", "name": "two-schedules-running", "workload": "two-schedules"}, 2),
			s.expect("batchwatch_run_retry_limit", map[string]string{"namespace": namespace, "name": "two-schedules-running"}, 3),
			s.expectBetween("batchwatch_run_deadline_utilization_ratio", map[string]string{"namespace": namespace, "name": "two-schedules-running"}, 0.5, 0.75),
			s.expect("batchwatch_workload_last_run_failed", map[string]string{"namespace": namespace, "kind": "CronWorkflow", "workload": "two-schedules"}, 1),
			s.expectBetween("batchwatch_schedule_missed_runs", map[string]string{"namespace": namespace, "name": "every-five-minutes", "reason": "not_started"}, 10, 13),
			s.expectBetween("batchwatch_schedule_overdue_seconds", map[string]string{"namespace": namespace, "name": "every-five-minutes"}, 50*60, 2*60*60),
			s.expect("batchwatch_backlog_runs", map[string]string{"namespace": namespace, "kind": "Workflow", "queue": "", "state": "pending"}, 1),
			s.expectAtLeast("batchwatch_unexpected_objects_total", map[string]string{"resource": "workflows", "reason": "invalid_field"}, 1),
			s.expectAbsent("batchwatch_run_elapsed_seconds", map[string]string{"name": "bad-deadline"}),
			s.expectAbsent("batchwatch_informer_synced", map[string]string{"resource": "sparkapplications"}),
		)
	})
	bw.expectLog(t, "custom resources not served; watching discovery for them to appear")
	// The failure happened before batchwatch started: it is history.
	bw.check(t, "history not counted", func(s familySet) error {
		return s.expectAbsent("batchwatch_runs_finished_total", map[string]string{"namespace": namespace, "workload": "two-schedules"})
	})

	t.Run("manual retry succeeds", func(t *testing.T) {
		// batchwatch counts runs that finished after it started, and
		// timestamps have one-second resolution: the finish must fall in a
		// later second than the start.
		time.Sleep(time.Until(bw.started.Truncate(time.Second).Add(time.Second)))
		retried := getCustomResource(t, dyn, workflowsResource, namespace, "two-schedules-retried")
		setObjectStatus(t, retried, map[string]any{"phase": "Running", "startedAt": utcRFC3339(time.Now())})
		retried = updateCustomResource(t, dyn, workflowsResource, retried)
		setObjectStatus(t, retried, map[string]any{"phase": "Succeeded", "startedAt": utcRFC3339(time.Now()), "finishedAt": utcRFC3339(time.Now())})
		updateCustomResource(t, dyn, workflowsResource, retried)

		waitForScrape(t, bw, 30*time.Second, "the workload recovered", func(s familySet) error {
			return errors.Join(
				s.expect("batchwatch_workload_last_run_failed", map[string]string{"namespace": namespace, "kind": "CronWorkflow", "workload": "two-schedules"}, 0),
				s.expect("batchwatch_workload_consecutive_failures", map[string]string{"namespace": namespace, "kind": "CronWorkflow", "workload": "two-schedules"}, 0),
				s.expect("batchwatch_runs_finished_total", map[string]string{"namespace": namespace, "kind": "Workflow", "workload": "two-schedules", "outcome": "succeeded", "reason": ""}, 1),
				s.expectAbsent("batchwatch_runs_finished_total", map[string]string{"namespace": namespace, "workload": "two-schedules", "outcome": "failed"}),
			)
		})
	})

	t.Run("spark CRDs installed while running", func(t *testing.T) {
		installCRDs(t, c, "sparkoperator.k8s.io_scheduledsparkapplications.yaml", "sparkoperator.k8s.io_sparkapplications.yaml")
		now := time.Now().UTC()
		daily := createCustomResource(t, dyn, scheduledSparkAppsRes, namespace, `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: ScheduledSparkApplication
metadata: {name: daily-pi}
spec:
  schedule: "30 4 * * *"
  timeZone: America/Sao_Paulo
  template: {type: Scala, mode: cluster, restartPolicy: {type: Never}}
status: {lastRun: %q, scheduleState: Scheduled}
`, utcRFC3339(now))
		createCustomResource(t, dyn, sparkAppsResource, namespace, `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: daily-pi-1796344201000000000
  labels: {sparkoperator.k8s.io/scheduled-app-name: daily-pi}
  ownerReferences: [{apiVersion: sparkoperator.k8s.io/v1beta2, kind: ScheduledSparkApplication, name: daily-pi, uid: %q}]
spec: {type: Scala, restartPolicy: {type: Never}}
status:
  applicationState: {state: COMPLETED}
  submissionAttempts: 1
  executionAttempts: 1
  lastSubmissionAttemptTime: %q
  terminationTime: %q
`, daily.GetUID(), utcRFC3339(now), utcRFC3339(now.Add(time.Second)))
		createCustomResource(t, dyn, sparkAppsResource, namespace, `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: sessionize-rerun}
spec: {type: Scala, restartPolicy: {type: OnFailure, onFailureRetries: 3}}
status: {applicationState: {state: PENDING_RERUN}, executionAttempts: 2}
`)
		createCustomResource(t, dyn, sparkAppsResource, namespace, `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: export}
spec: {type: Scala, restartPolicy: {type: OnFailure, onSubmissionFailureRetries: 1}}
status:
  applicationState: {state: SUBMISSION_FAILED, errorMessage: "failed to run spark-submit"}
  submissionAttempts: 2
  lastSubmissionAttemptTime: %q
`, utcRFC3339(now))
		createCustomResource(t, dyn, sparkAppsResource, namespace, `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: churn-model}
spec: {type: Python, batchSchedulerOptions: {queue: etl}}
status: {applicationState: {state: SUBMITTED}, submissionAttempts: 1, executionAttempts: 1, lastSubmissionAttemptTime: %q}
`, utcRFC3339(now))

		waitForScrape(t, bw, crdDiscoveryWait, "spark-operator series", func(s familySet) error {
			return errors.Join(
				s.expect("batchwatch_informer_synced", map[string]string{"resource": "sparkapplications"}, 1),
				s.expect("batchwatch_informer_synced", map[string]string{"resource": "scheduledsparkapplications"}, 1),
				s.expect("batchwatch_schedule_info", map[string]string{
					"namespace": namespace, "kind": "ScheduledSparkApplication", "name": "daily-pi",
					"schedule": "30 4 * * *", "timezone": "America/Sao_Paulo", "concurrency_policy": "Allow",
				}, 1),
				s.expect("batchwatch_schedule_next_timestamp_seconds", map[string]string{"namespace": namespace, "name": "daily-pi"},
					float64(nextCronSlot(t, "America/Sao_Paulo", time.Now(), "30 4 * * *").Unix())),
				s.expect("batchwatch_workload_last_run_failed", map[string]string{"namespace": namespace, "kind": "ScheduledSparkApplication", "workload": "daily-pi"}, 0),
				s.expect("batchwatch_runs_finished_total", map[string]string{"namespace": namespace, "kind": "SparkApplication", "workload": "daily-pi", "outcome": "succeeded", "reason": ""}, 1),
				s.expect("batchwatch_run_retries", map[string]string{"namespace": namespace, "kind": "SparkApplication", "name": "sessionize-rerun"}, 1),
				s.expect("batchwatch_run_retry_limit", map[string]string{"namespace": namespace, "kind": "SparkApplication", "name": "sessionize-rerun"}, 3),
				s.expect("batchwatch_workload_last_run_failed", map[string]string{"namespace": namespace, "kind": "SparkApplication", "workload": "export"}, 1),
				s.expect("batchwatch_runs_finished_total", map[string]string{"namespace": namespace, "workload": "export", "outcome": "failed", "reason": "SubmissionFailed"}, 1),
				s.expect("batchwatch_backlog_runs", map[string]string{"namespace": namespace, "kind": "SparkApplication", "queue": "etl", "state": "pending"}, 1),
			)
		})
		bw.expectLog(t, "custom resource served; informer started")
	})

	t.Run("spark CRDs removed while running", func(t *testing.T) {
		if _, err := c.Kubectl(ctx, "delete", "crd", "sparkapplications.sparkoperator.k8s.io", "scheduledsparkapplications.sparkoperator.k8s.io"); err != nil {
			t.Fatal(err)
		}
		waitForScrape(t, bw, crdDiscoveryWait, "no spark-operator series", func(s familySet) error {
			return errors.Join(
				s.expectAbsent("batchwatch_informer_synced", map[string]string{"resource": "sparkapplications"}),
				s.expectAbsent("batchwatch_informer_synced", map[string]string{"resource": "scheduledsparkapplications"}),
				s.expectAbsent("batchwatch_schedule_info", map[string]string{"kind": "ScheduledSparkApplication"}),
				s.expectAbsent("batchwatch_run_retries", map[string]string{"kind": "SparkApplication"}),
				s.expectAbsent("batchwatch_collector_success", map[string]string{"collector": "spark"}),
				s.expect("batchwatch_informer_synced", map[string]string{"resource": "workflows"}, 1),
			)
		})
		bw.expectLog(t, "custom resource no longer served; informer stopped")
	})
}

// TestArgoSparkComponentGrantsReadOnly applies the base with the argo-spark
// component and checks with the API server's authorizer what the
// ServiceAccount may do with the engines' resources.
func TestArgoSparkComponentGrantsReadOnly(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()

	crds, err := cluster.PrometheusOperatorCRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if _, err := c.Kubectl(ctx, "apply", "--server-side", "-f", crd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatal(err)
	}
	installCRDs(t, c, "argoproj.io_cronworkflows.yaml", "argoproj.io_workflows.yaml",
		"sparkoperator.k8s.io_scheduledsparkapplications.yaml", "sparkoperator.k8s.io_sparkapplications.yaml")

	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	overlay := t.TempDir()
	// kustomize accepts only relative paths to other kustomizations.
	base, err := filepath.Rel(overlay, filepath.Join(root, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	kustomization := fmt.Sprintf("resources:\n  - %s\ncomponents:\n  - %s\n", base, filepath.Join(base, "components", "argo-spark"))
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "apply", "-k", overlay); err != nil {
		t.Fatal(err)
	}

	serviceAccount := "--as=system:serviceaccount:batchwatch:batchwatch"
	for _, check := range []struct {
		verb, resource string
		allowed        bool
	}{
		{"watch", "workflows.argoproj.io", true},
		{"list", "cronworkflows.argoproj.io", true},
		{"get", "sparkapplications.sparkoperator.k8s.io", true},
		{"watch", "scheduledsparkapplications.sparkoperator.k8s.io", true},
		{"list", "jobs.batch", true},
		{"create", "workflows.argoproj.io", false},
		{"delete", "sparkapplications.sparkoperator.k8s.io", false},
		{"update", "cronworkflows.argoproj.io", false},
		{"list", "workflowtemplates.argoproj.io", false},
		{"list", "customresourcedefinitions.apiextensions.k8s.io", false},
	} {
		out, _ := c.Kubectl(ctx, "auth", "can-i", check.verb, check.resource, "--all-namespaces", serviceAccount)
		want := "no"
		if check.allowed {
			want = "yes"
		}
		if got := lastOutputLine(string(out)); got != want {
			t.Errorf("can the service account %s %s: %q, want %q", check.verb, check.resource, got, want)
		}
	}
}

// installCRDs applies the CRDs of testdata/crds and waits until the API
// server serves them.
func installCRDs(t *testing.T, c *cluster.Cluster, files ...string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for _, file := range files {
		if _, err := c.Kubectl(t.Context(), "apply", "-f", filepath.Join("testdata", "crds", file)); err != nil {
			t.Fatal(err)
		}
		group, plural, _ := strings.Cut(strings.TrimSuffix(file, ".yaml"), "_")
		names = append(names, "crd/"+plural+"."+group)
	}
	args := append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, names...)
	if _, err := c.Kubectl(t.Context(), args...); err != nil {
		t.Fatal(err)
	}
}

// createCustomResource creates the object of a YAML manifest, formatted with
// args, in the namespace and returns it as stored.
func createCustomResource(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, manifest string, args ...any) *unstructured.Unstructured {
	t.Helper()
	var object map[string]any
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(manifest, args...)), &object); err != nil {
		t.Fatalf("decode %s manifest: %v", gvr.Resource, err)
	}
	u := &unstructured.Unstructured{Object: object}
	created, err := dyn.Resource(gvr).Namespace(namespace).Create(t.Context(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", gvr.Resource, namespace, u.GetName(), err)
	}
	return created
}

func getCustomResource(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := dyn.Resource(gvr).Namespace(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", gvr.Resource, namespace, name, err)
	}
	return u
}

func updateCustomResource(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	updated, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Update(t.Context(), u, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update %s %s/%s: %v", gvr.Resource, u.GetNamespace(), u.GetName(), err)
	}
	return updated
}

func setObjectStatus(t *testing.T, u *unstructured.Unstructured, status map[string]any) {
	t.Helper()
	if err := unstructured.SetNestedMap(u.Object, status, "status"); err != nil {
		t.Fatalf("set status of %s: %v", u.GetName(), err)
	}
}

func utcRFC3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// nextCronSlot returns the earliest slot after now of the expressions in the
// zone, parsed as the Argo and spark-operator controllers do.
func nextCronSlot(t *testing.T, zone string, now time.Time, expressions ...string) time.Time {
	t.Helper()
	var earliest time.Time
	for _, expression := range expressions {
		schedule, err := cron.ParseStandard("CRON_TZ=" + zone + " " + expression)
		if err != nil {
			t.Fatalf("parse %q: %v", expression, err)
		}
		if next := schedule.Next(now); earliest.IsZero() || next.Before(earliest) {
			earliest = next
		}
	}
	return earliest
}

func lastOutputLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// crdBatchwatch is a batchwatch serve process started by
// startBatchwatchForCRDs.
type crdBatchwatch struct {
	url  string
	logs *crdLogBuffer
	// started is a time shortly before the process started.
	started time.Time
}

// crdLogBuffer collects the process output for the test to read while the
// process writes.
type crdLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *crdLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *crdLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startBatchwatchForCRDs builds batchwatch, runs 'batchwatch serve' on a
// free port of 127.0.0.1 with the cluster's admin kubeconfig, and waits
// until /readyz returns 200. The process is stopped when the test ends, and
// its output is logged if the test failed.
func startBatchwatchForCRDs(t *testing.T, c *cluster.Cluster) *crdBatchwatch {
	t.Helper()
	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(t.TempDir(), "batchwatch")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", binary, "./cmd/batchwatch")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/batchwatch: %v\n%s", err, out)
	}

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	address := listener.Addr().String()
	listener.Close()

	bw := &crdBatchwatch{url: "http://" + address, logs: &crdLogBuffer{}, started: time.Now()}
	cmd := exec.Command(binary, "serve", "--kubeconfig="+c.Kubeconfig(), "--web.listen-address="+address,
		"--schedule-grace=1m", "--log.level=debug")
	cmd.Stdout, cmd.Stderr = bw.logs, bw.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start batchwatch: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("batchwatch output:\n%s", bw.logs.String())
		}
	})

	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("batchwatch exited: %v", err)
		default:
		}
		status, _, err := fetchURL(ctx, bw.url+"/readyz")
		return err == nil && status == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("batchwatch not ready: %v\n%s", err, bw.logs.String())
	}
	return bw
}

func fetchURL(ctx context.Context, address string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// familySet is one scrape of /metrics, by family name.
type familySet map[string]*dto.MetricFamily

func (b *crdBatchwatch) scrape(ctx context.Context) (familySet, error) {
	status, body, err := fetchURL(ctx, b.url+"/metrics")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return families, nil
}

// values returns the values of the series of a family whose labels include
// the given ones.
func (s familySet) values(name string, labels map[string]string) []float64 {
	family, ok := s[name]
	if !ok {
		return nil
	}
	var values []float64
	for _, m := range family.GetMetric() {
		if !metricHasLabels(m, labels) {
			continue
		}
		switch {
		case m.GetGauge() != nil:
			values = append(values, m.GetGauge().GetValue())
		case m.GetCounter() != nil:
			values = append(values, m.GetCounter().GetValue())
		case m.GetUntyped() != nil:
			values = append(values, m.GetUntyped().GetValue())
		}
	}
	return values
}

func metricHasLabels(m *dto.Metric, labels map[string]string) bool {
	for name, value := range labels {
		found := false
		for _, pair := range m.GetLabel() {
			if pair.GetName() == name && pair.GetValue() == value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// one returns the value of the only series that matches, or an error that
// names the series.
func (s familySet) one(name string, labels map[string]string) (float64, error) {
	values := s.values(name, labels)
	if len(values) != 1 {
		return 0, fmt.Errorf("%s%v: %d series, want 1", name, labels, len(values))
	}
	return values[0], nil
}

func (s familySet) expect(name string, labels map[string]string, want float64) error {
	got, err := s.one(name, labels)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
	return nil
}

func (s familySet) expectBetween(name string, labels map[string]string, low, high float64) error {
	got, err := s.one(name, labels)
	if err != nil {
		return err
	}
	if got < low || got > high {
		return fmt.Errorf("%s%v = %v, want between %v and %v", name, labels, got, low, high)
	}
	return nil
}

func (s familySet) expectAtLeast(name string, labels map[string]string, low float64) error {
	got, err := s.one(name, labels)
	if err != nil {
		return err
	}
	if got < low {
		return fmt.Errorf("%s%v = %v, want at least %v", name, labels, got, low)
	}
	return nil
}

func (s familySet) expectAbsent(name string, labels map[string]string) error {
	if values := s.values(name, labels); len(values) > 0 {
		return fmt.Errorf("%s%v: %d series, want none", name, labels, len(values))
	}
	return nil
}

// waitForScrape scrapes until check passes, and fails the test with the last
// check error after timeout.
func waitForScrape(t *testing.T, bw *crdBatchwatch, timeout time.Duration, what string, check func(familySet) error) {
	t.Helper()
	// The last scrape may be cut off by the deadline, so the error of the
	// last completed check is kept apart.
	var lastCheck, lastScrape error
	err := wait.PollUntilContextTimeout(t.Context(), time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		families, err := bw.scrape(ctx)
		if err != nil {
			lastScrape = err
			return false, nil
		}
		lastCheck = check(families)
		return lastCheck == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: last check: %v; last scrape error: %v", what, timeout, lastCheck, lastScrape)
	}
}

// check scrapes once and fails the test if check does not pass.
func (b *crdBatchwatch) check(t *testing.T, what string, check func(familySet) error) {
	t.Helper()
	families, err := b.scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := check(families); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func (b *crdBatchwatch) expectLog(t *testing.T, message string) {
	t.Helper()
	if !strings.Contains(b.logs.String(), message) {
		t.Errorf("batchwatch did not log %q", message)
	}
}
