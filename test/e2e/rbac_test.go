//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// The namespace, ServiceAccount and ClusterRole that deploy/ creates.
const (
	deployNamespace = "batchwatch"
	deployAccount   = "batchwatch"
	deployRole      = "batchwatch"
)

// watchedResources are the resources batchwatch's informers list and watch,
// by the names of the resource label and of RBAC.
var watchedResources = []string{"cronjobs", "jobs", "pods"}

// deployServiceAccount applies the Namespace, ServiceAccount, ClusterRole and
// ClusterRoleBinding of deploy/ and returns the path of a kubeconfig that
// authenticates as that ServiceAccount with a token.
func deployServiceAccount(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml"} {
		// serviceaccount.yaml names no namespace, because the kustomization
		// sets it. The flag does nothing for cluster-scoped objects.
		path := filepath.Join(root, "deploy", file)
		if _, err := c.Kubectl(t.Context(), "apply", "--namespace="+deployNamespace, "-f", path); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := tokenKubeconfig(t, c, deployNamespace, deployAccount)
	waitAllowed(t, kubeconfig, watchedResources)
	return kubeconfig
}

// tokenKubeconfig requests a one-hour token for the ServiceAccount and writes
// a kubeconfig with it and the cluster's server and CA.
func tokenKubeconfig(t *testing.T, c *cluster.Cluster, namespace, account string) string {
	t.Helper()
	request := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}
	token, err := c.Client().CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), account, request, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request a token for ServiceAccount %s/%s: %v", namespace, account, err)
	}

	admin := c.RESTConfig()
	config := clientcmdapi.NewConfig()
	config.Clusters["e2e"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	config.AuthInfos[account] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	config.Contexts[account] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: account}
	config.CurrentContext = account
	path := filepath.Join(t.TempDir(), account+".kubeconfig")
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		t.Fatalf("write kubeconfig for %s: %v", account, err)
	}
	return path
}

func kubeconfigClient(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("load %s: %v", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatalf("client for %s: %v", kubeconfig, err)
	}
	return client
}

// listAll lists one of the watched resources in all namespaces.
func listAll(ctx context.Context, client kubernetes.Interface, resource string) error {
	options := metav1.ListOptions{Limit: 1}
	var err error
	switch resource {
	case "cronjobs":
		_, err = client.BatchV1().CronJobs(metav1.NamespaceAll).List(ctx, options)
	case "jobs":
		_, err = client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, options)
	case "pods":
		_, err = client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, options)
	default:
		err = fmt.Errorf("unknown resource %q", resource)
	}
	return err
}

// waitAllowed waits until the kubeconfig's identity may list the resources.
// The RBAC authorizer reads bindings from a cache, so a binding applied a
// moment ago may not apply yet, and batchwatch would count the rejected
// calls as watch errors.
func waitAllowed(t *testing.T, kubeconfig string, resources []string) {
	t.Helper()
	client := kubeconfigClient(t, kubeconfig)
	waitUntil(t, 30*time.Second, "the RBAC binding applies", func(ctx context.Context) error {
		for _, resource := range resources {
			if err := listAll(ctx, client, resource); err != nil {
				return fmt.Errorf("list %s: %w", resource, err)
			}
		}
		return nil
	})
}

// testRBAC checks that batchwatch works with the deploy/ ServiceAccount and
// needs every rule of its ClusterRole, and that the account can do nothing
// else.
func testRBAC(t *testing.T, c *cluster.Cluster, batchwatch exporter, kubeconfig string) {
	t.Run("informers-synced-without-errors", func(t *testing.T) {
		s, err := batchwatch.scrape(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, resource := range watchedResources {
			labels := labelSet("resource", resource)
			if err := s.expect("batchwatch_informer_synced", labels, 1); err != nil {
				t.Error(err)
			}
			if err := s.expect("batchwatch_watch_errors_total", labels, 0); err != nil {
				t.Error(err)
			}
		}
		if err := s.expect("batchwatch_collector_success", labelSet("collector", "batch"), 1); err != nil {
			t.Error(err)
		}
	})

	t.Run("account-is-read-only", func(t *testing.T) {
		client := kubeconfigClient(t, kubeconfig)
		ctx := t.Context()
		dryRun := []string{metav1.DryRunAll}
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "rbac-probe", Namespace: metav1.NamespaceDefault},
			Spec:       jobSpec(nil),
		}
		for _, call := range []struct {
			name string
			do   func() error
		}{
			{"list secrets", func() error {
				_, err := client.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
				return err
			}},
			{"list configmaps", func() error {
				_, err := client.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
				return err
			}},
			{"list nodes", func() error {
				_, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				return err
			}},
			{"create jobs", func() error {
				_, err := client.BatchV1().Jobs(metav1.NamespaceDefault).Create(ctx, job, metav1.CreateOptions{DryRun: dryRun})
				return err
			}},
			{"delete pods", func() error {
				return client.CoreV1().Pods(metav1.NamespaceDefault).DeleteCollection(ctx, metav1.DeleteOptions{DryRun: dryRun}, metav1.ListOptions{})
			}},
			{"update cronjobs", func() error {
				cronJob := newCronJob(metav1.NamespaceDefault, "rbac-probe", batchv1.AllowConcurrent, nil)
				_, err := client.BatchV1().CronJobs(metav1.NamespaceDefault).Update(ctx, cronJob, metav1.UpdateOptions{DryRun: dryRun})
				return err
			}},
		} {
			if err := call.do(); !apierrors.IsForbidden(err) {
				t.Errorf("ServiceAccount %s/%s: %s returned %v, want Forbidden", deployNamespace, deployAccount, call.name, err)
			}
		}
	})

	// Without any one rule of the ClusterRole, batchwatch must show the
	// gap in its self-metrics and stay unready, so no rule is superfluous.
	for _, missing := range watchedResources {
		t.Run("without-"+missing, func(t *testing.T) {
			t.Parallel()
			testMissingPermission(t, c, missing)
		})
	}
}

// testMissingPermission runs batchwatch as a ServiceAccount whose ClusterRole
// is the deploy/ one without the rule for resource.
func testMissingPermission(t *testing.T, c *cluster.Cluster, resource string) {
	ctx := t.Context()
	client := c.Client()
	name := "batchwatch-without-" + resource

	deployed, err := client.RbacV1().ClusterRoles().Get(ctx, deployRole, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ClusterRole %s: %v", deployRole, err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, rule := range deployed.Rules {
		rule.Resources = slices.DeleteFunc(slices.Clone(rule.Resources), func(r string) bool { return r == resource })
		if len(rule.Resources) > 0 {
			role.Rules = append(role.Rules, rule)
		}
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterRole %s: %v", name, err)
	}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: deployNamespace}}
	if _, err := client.CoreV1().ServiceAccounts(deployNamespace).Create(ctx, account, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ServiceAccount %s: %v", name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: deployNamespace}},
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterRoleBinding %s: %v", name, err)
	}

	kubeconfig := tokenKubeconfig(t, c, deployNamespace, name)
	granted := slices.DeleteFunc(slices.Clone(watchedResources), func(r string) bool { return r == resource })
	waitAllowed(t, kubeconfig, granted)
	if err := listAll(ctx, kubeconfigClient(t, kubeconfig), resource); !apierrors.IsForbidden(err) {
		t.Fatalf("ServiceAccount %s: list %s returned %v, want Forbidden", name, resource, err)
	}

	restricted := startExporter(t, kubeconfig)
	waitUntil(t, time.Minute, "batchwatch shows the missing permission", func(ctx context.Context) error {
		s, err := restricted.scrape(ctx)
		if err != nil {
			return err
		}
		missing := labelSet("resource", resource)
		if watchErrors := s.count("batchwatch_watch_errors_total", missing); watchErrors < 1 {
			return fmt.Errorf("%s = %g, want at least 1", series("batchwatch_watch_errors_total", missing), watchErrors)
		}
		if err := s.expect("batchwatch_informer_synced", missing, 0); err != nil {
			return wrongValue("%w", err)
		}
		for _, other := range granted {
			if err := s.expect("batchwatch_informer_synced", labelSet("resource", other), 1); err != nil {
				return err
			}
		}
		if err := s.expect("batchwatch_collector_success", labelSet("collector", "batch"), 0); err != nil {
			return wrongValue("%w", err)
		}
		return nil
	})
	if restricted.Ready(ctx) {
		t.Errorf("/readyz returns 200 although batchwatch cannot list %s", resource)
	}
}
