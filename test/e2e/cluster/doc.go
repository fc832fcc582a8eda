// Package cluster runs a throw-away Kubernetes control plane on 127.0.0.1 for
// end-to-end tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, which fakes nodes and drives the phases of pods
// bound to them. It also starts Prometheus and Alertmanager.
//
// Every process listens on a port chosen free at start and runs in its own
// process group. Stop, a test cleanup registered with StopOnCleanup, or
// SIGINT and SIGTERM end them all. On Linux the kernel also kills them when
// the process that started them dies.
//
// The binaries come from the folder that hack/tools.sh builds into:
// .cache/bin in the repository, or $BATCHWATCH_BIN_DIR when it is set.
//
// Pods on the fake nodes follow the kwok stages in stages.yaml. Annotations
// on a pod choose how long it runs and how it ends; see the Annotation
// constants.
package cluster
