package cluster

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// stages holds the kwok stages that make fake nodes ready and move pods
// through their phases.
//
//go:embed stages.yaml
var stages []byte

// Pod annotations that the kwok stages in stages.yaml read. A pod without
// them runs for one second and succeeds, unless its restartPolicy is Always:
// then it runs until it is deleted.
const (
	// AnnotationDuration is how long each attempt runs, as a Go duration
	// such as "30s". An absent or unparsable value means 1s.
	AnnotationDuration = "batchwatch.test/duration"
	// AnnotationExitCode is the exit code of every container, such as "1".
	// Without AnnotationFailedAttempts, a value other than "0" makes every
	// attempt fail.
	AnnotationExitCode = "batchwatch.test/exit-code"
	// AnnotationReason is the termination reason of a failing container,
	// such as "OOMKilled" (default "Error"). Without AnnotationFailedAttempts,
	// any reason makes every attempt fail. OOMKilled without an exit code
	// exits with 137, any other failure with 1.
	AnnotationReason = "batchwatch.test/reason"
	// AnnotationFailedAttempts is how many attempts fail before one
	// succeeds, as an integer; a pod with any other value stays Running.
	// The attempt number is the job controller's
	// batch.kubernetes.io/job-index-failure-count pod annotation plus the
	// first container's restart count. The job controller sets that
	// annotation only on pods of Indexed Jobs with backoffLimitPerIndex, so
	// a failed pod of any other Job is followed by a pod that fails again.
	// Containers of restartPolicy OnFailure pods restart in place, which
	// works for every Job.
	AnnotationFailedAttempts = "batchwatch.test/failed-attempts"
)

const (
	// nodeAnnotation marks the nodes that kwok manages.
	nodeAnnotation      = "kwok.x-k8s.io/node"
	nodeAnnotationValue = "fake"
	// NodeNamePrefix starts the name of every fake node, followed by its
	// index from 0.
	NodeNamePrefix = "kwok-node-"
)

// createNodes creates the fake nodes and waits until kwok reports each one
// ready.
func (c *Cluster) createNodes(ctx context.Context) error {
	for i := range c.nodes {
		name := fmt.Sprintf("%s%d", NodeNamePrefix, i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{nodeAnnotation: nodeAnnotationValue},
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
			},
		}
		_, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}

	var notReady []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, componentTimeout, true, func(ctx context.Context) (bool, error) {
		nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		notReady = notReady[:0]
		for _, node := range nodes.Items {
			if !nodeReady(&node) {
				notReady = append(notReady, node.Name)
			}
		}
		return len(nodes.Items) >= c.nodes && len(notReady) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %d ready nodes (not ready: %v; see kwok.log): %w", c.nodes, notReady, err)
	}
	return nil
}

func nodeReady(node *corev1.Node) bool {
	for _, condition := range node.Status.Conditions {
		if condition.Type == corev1.NodeReady {
			return condition.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitDefaultServiceAccount waits until the service account controller has
// created the default account of the default namespace. Pods need it, so
// until then the Job controller cannot create any.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, componentTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the default service account (see kube-controller-manager.log): %w", err)
	}
	return nil
}
