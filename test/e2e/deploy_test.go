//go:build e2e

package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

func TestDeployBaseApplies(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()

	crds, err := cluster.PrometheusOperatorCRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		// Server-side apply stores no last-applied annotation, whose 256 KiB
		// limit several prometheus-operator v0.88.0 CRDs exceed, though not
		// these two.
		if _, err := c.Kubectl(ctx, "apply", "--server-side", "-f", crd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatal(err)
	}

	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(root, "deploy")
	if _, err := c.Kubectl(ctx, "apply", "-k", base); err != nil {
		t.Fatal(err)
	}

	client := c.Client()
	if _, err := client.CoreV1().Namespaces().Get(ctx, "batchwatch", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace batchwatch: %v", err)
	}
	if _, err := client.CoreV1().ServiceAccounts("batchwatch").Get(ctx, "batchwatch", metav1.GetOptions{}); err != nil {
		t.Errorf("ServiceAccount batchwatch: %v", err)
	}

	role, err := client.RbacV1().ClusterRoles().Get(ctx, "batchwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ClusterRole batchwatch: %v", err)
	}
	for _, rule := range role.Rules {
		if !slices.Equal(rule.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("ClusterRole batchwatch: rule %v has verbs %v, want only get, list, watch", rule.Resources, rule.Verbs)
		}
	}
	if got := ruleResources(role.Rules); !slices.Equal(got, []string{"/pods", "batch/cronjobs", "batch/jobs"}) {
		t.Errorf("ClusterRole batchwatch: resources %v, want [/pods batch/cronjobs batch/jobs]", got)
	}

	binding, err := client.RbacV1().ClusterRoleBindings().Get(ctx, "batchwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ClusterRoleBinding batchwatch: %v", err)
	}
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: "batchwatch", Namespace: "batchwatch"}
	if len(binding.Subjects) != 1 || binding.Subjects[0] != wantSubject {
		t.Errorf("ClusterRoleBinding batchwatch: subjects %+v, want [%+v]", binding.Subjects, wantSubject)
	}

	// The API server's authorizer is the final word on what the service
	// account may do.
	serviceAccount := "--as=system:serviceaccount:batchwatch:batchwatch"
	for _, check := range []struct {
		verb, resource string
		allowed        bool
	}{
		{"watch", "jobs.batch", true},
		{"list", "cronjobs.batch", true},
		{"get", "pods", true},
		{"delete", "jobs.batch", false},
		{"create", "pods", false},
		{"list", "secrets", false},
	} {
		out, _ := c.Kubectl(ctx, "auth", "can-i", check.verb, check.resource, "--all-namespaces", serviceAccount)
		want := "no"
		if check.allowed {
			want = "yes"
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("can the service account %s %s: %q, want %q", check.verb, check.resource, got, want)
		}
	}

	deployment, err := client.AppsV1().Deployments("batchwatch").Get(ctx, "batchwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Deployment batchwatch: %v", err)
	}
	pod := deployment.Spec.Template.Spec
	if pod.ServiceAccountName != "batchwatch" {
		t.Errorf("Deployment batchwatch: serviceAccountName %q, want batchwatch", pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("Deployment batchwatch: %d containers, want 1", len(pod.Containers))
	}
	container := pod.Containers[0]
	if !slices.Equal(container.Args, []string{"serve"}) {
		t.Errorf("container args %v, want [serve]", container.Args)
	}
	if len(container.Ports) != 1 || container.Ports[0].Name != "http" || container.Ports[0].ContainerPort != 9929 {
		t.Errorf("container ports %+v, want one port http 9929", container.Ports)
	}
	if probe := container.LivenessProbe; probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", probe)
	}
	if probe := container.ReadinessProbe; probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", probe)
	}
	if container.Resources.Requests.Memory().IsZero() || container.Resources.Limits.Memory().IsZero() {
		t.Errorf("container resources %+v, want memory requests and limits", container.Resources)
	}
	security := container.SecurityContext
	if security == nil {
		t.Fatal("container has no securityContext")
	}
	if security.RunAsUser == nil || *security.RunAsUser != 65532 {
		t.Errorf("container runAsUser %v, want 65532", security.RunAsUser)
	}
	if security.ReadOnlyRootFilesystem == nil || !*security.ReadOnlyRootFilesystem {
		t.Error("container root filesystem is not read-only")
	}
	if security.AllowPrivilegeEscalation == nil || *security.AllowPrivilegeEscalation {
		t.Error("container allows privilege escalation")
	}
	if security.Capabilities == nil || !slices.Equal(security.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container capabilities %+v, want drop [ALL]", security.Capabilities)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil || pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod securityContext %+v, want seccompProfile RuntimeDefault", pod.SecurityContext)
	}

	service, err := client.CoreV1().Services("batchwatch").Get(ctx, "batchwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Service batchwatch: %v", err)
	}
	if len(service.Spec.Ports) != 1 || service.Spec.Ports[0].Name != "http" || service.Spec.Ports[0].Port != 9929 {
		t.Errorf("Service batchwatch: ports %+v, want one port http 9929", service.Spec.Ports)
	}

	dynamicClient, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	serviceMonitors := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	monitor, err := dynamicClient.Resource(serviceMonitors).Namespace("batchwatch").Get(ctx, "batchwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ServiceMonitor batchwatch: %v", err)
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor batchwatch: %d endpoints, want 1", len(endpoints))
	}
	endpoint, _ := endpoints[0].(map[string]any)
	if endpoint["port"] != "http" || endpoint["honorLabels"] != true {
		t.Errorf("ServiceMonitor endpoint %v, want port http and honorLabels true", endpoint)
	}
	selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	for key, value := range selector {
		if service.Labels[key] != value {
			t.Errorf("ServiceMonitor selector %v does not match the labels %v of Service batchwatch", selector, service.Labels)
			break
		}
	}

	prometheusRules := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
	rule, err := dynamicClient.Resource(prometheusRules).Namespace("batchwatch").Get(ctx, "batchwatch", metav1.GetOptions{})
	if err != nil {
		t.Errorf("PrometheusRule batchwatch: %v", err)
	} else if groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups"); len(groups) == 0 {
		t.Error("PrometheusRule batchwatch has no rule groups")
	}

	dashboards, err := client.CoreV1().ConfigMaps("batchwatch").Get(ctx, "batchwatch-dashboards", metav1.GetOptions{})
	if err != nil {
		t.Errorf("ConfigMap batchwatch-dashboards: %v", err)
	} else if len(dashboards.Data) == 0 {
		t.Error("ConfigMap batchwatch-dashboards has no dashboards")
	}

	// A second apply of an unchanged base changes nothing.
	out, err := c.Kubectl(ctx, "apply", "-k", base)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasSuffix(line, " unchanged") {
			t.Errorf("second apply changed an object: %q", line)
		}
	}
}

// ruleResources returns "group/resource" for every resource in the rules,
// sorted.
func ruleResources(rules []rbacv1.PolicyRule) []string {
	var resources []string
	for _, rule := range rules {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				resources = append(resources, group+"/"+resource)
			}
		}
	}
	slices.Sort(resources)
	return resources
}
