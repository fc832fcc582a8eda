package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// defaultNodes is the number of fake nodes when Options.Nodes is 0.
	defaultNodes = 3
	// componentTimeout bounds the wait for one component to become ready.
	// kube-apiserver, the slowest, took 4 to 6 s in the e2e tests on a busy
	// 2-core machine, and slower CI machines get ample room.
	componentTimeout = 2 * time.Minute
	// stopGrace is how long a component may take to exit after SIGTERM.
	stopGrace = 5 * time.Second
)

// Options configures Start.
type Options struct {
	// LogDir is the folder for the component logs, one file per component.
	// Stop keeps a LogDir that the caller set. When it is empty, the logs go
	// to a folder in the cluster's temporary folder, which Stop removes
	// unless KeepLogs was called.
	LogDir string
	// Nodes is the number of fake nodes that kwok runs; 0 means 3.
	Nodes int
	// Logger receives a line when a component becomes ready or is stopped
	// and when the cluster is ready or stopped; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running local control plane. Its methods are safe for
// concurrent use.
type Cluster struct {
	logger  *slog.Logger
	dir     string
	logDir  string
	ownLogs bool
	nodes   int

	kubeconfig string
	restConfig *rest.Config
	client     kubernetes.Interface

	etcd              *process
	apiServer         *process
	controllerManager *process
	scheduler         *process
	kwok              *process

	etcdReady              readinessCheck
	apiServerReady         readinessCheck
	controllerManagerReady readinessCheck
	schedulerReady         readinessCheck
	kwokReady              readinessCheck

	mu       sync.Mutex
	keepLogs bool
	stopped  bool
}

// Start starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and kwok with opts.Nodes fake nodes, and returns once the nodes are ready
// and the default namespace has its default service account. ctx bounds the
// start only: the processes run until Stop. On error every process is
// stopped and the error names the log folder, which is kept.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := register(c); err != nil {
		c.removeFiles()
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.abort()
		unregister(c)
		return nil, fmt.Errorf("start cluster: %w (component logs in %s)", err, c.logDir)
	}
	return c, nil
}

func newCluster(opts Options) (*Cluster, error) {
	binaries := map[string]string{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		path, err := BinaryPath(name)
		if err != nil {
			return nil, err
		}
		binaries[name] = path
	}

	dir, err := os.MkdirTemp("", "batchwatch-cluster-")
	if err != nil {
		return nil, fmt.Errorf("create cluster folder: %w", err)
	}
	c := &Cluster{
		logger:  opts.Logger,
		dir:     dir,
		logDir:  opts.LogDir,
		ownLogs: opts.LogDir == "",
		nodes:   opts.Nodes,
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.nodes <= 0 {
		c.nodes = defaultNodes
	}
	if c.ownLogs {
		c.logDir = filepath.Join(dir, "logs")
	} else if c.logDir, err = filepath.Abs(c.logDir); err != nil {
		c.removeFiles()
		return nil, fmt.Errorf("resolve log folder: %w", err)
	}

	if err := c.configure(binaries); err != nil {
		c.removeFiles()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	for _, step := range []struct {
		p     *process
		ready readinessCheck
	}{
		{c.etcd, c.etcdReady},
		{c.apiServer, c.apiServerReady},
	} {
		if err := c.startProcess(ctx, step.p, step.ready); err != nil {
			return err
		}
	}

	// The remaining components only need the API server, so they start
	// together and are then awaited one by one.
	clients := []struct {
		p     *process
		ready readinessCheck
	}{
		{c.controllerManager, c.controllerManagerReady},
		{c.scheduler, c.schedulerReady},
		{c.kwok, c.kwokReady},
	}
	for _, step := range clients {
		if err := step.p.start(); err != nil {
			return err
		}
	}
	for _, step := range clients {
		started := time.Now()
		if err := waitReady(ctx, step.p, componentTimeout, step.ready); err != nil {
			return err
		}
		c.logger.Info("component ready", "component", step.p.name, "pid", step.p.pid(), "duration_seconds", time.Since(started).Seconds())
	}

	started := time.Now()
	if err := c.createNodes(ctx); err != nil {
		return err
	}
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return err
	}
	c.logger.Info("cluster ready", "nodes", c.nodes, "kubeconfig", c.kubeconfig, "duration_seconds", time.Since(started).Seconds())
	return nil
}

func (c *Cluster) startProcess(ctx context.Context, p *process, ready readinessCheck) error {
	started := time.Now()
	if err := p.start(); err != nil {
		return err
	}
	if err := waitReady(ctx, p, componentTimeout, ready); err != nil {
		return err
	}
	c.logger.Info("component ready", "component", p.name, "pid", p.pid(), "duration_seconds", time.Since(started).Seconds())
	return nil
}

// Kubeconfig returns the path of a kubeconfig file with cluster-admin rights.
func (c *Cluster) Kubeconfig() string {
	return c.kubeconfig
}

// RESTConfig returns a copy of the client configuration of the kubeconfig.
func (c *Cluster) RESTConfig() *rest.Config {
	return rest.CopyConfig(c.restConfig)
}

// Client returns a clientset with cluster-admin rights.
func (c *Cluster) Client() kubernetes.Interface {
	return c.client
}

// LogDir returns the folder of the component logs.
func (c *Cluster) LogDir() string {
	return c.logDir
}

// Kubectl runs kubectl against the cluster and returns its combined output.
// The error contains that output when kubectl fails.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	path, err := BinaryPath("kubectl")
	if err != nil {
		return nil, err
	}
	// The discovery cache is keyed by host and port, which a later cluster
	// may reuse, so each cluster has its own.
	global := []string{"--kubeconfig=" + c.kubeconfig, "--cache-dir=" + filepath.Join(c.dir, "kubectl-cache")}
	cmd := exec.CommandContext(ctx, path, append(global, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %v: %w: %s", args, err, out)
	}
	return out, nil
}

// StopControllerManager stops kube-controller-manager, so no Job or CronJob
// controller acts until StartControllerManager.
func (c *Cluster) StopControllerManager() {
	c.controllerManager.stop(stopGrace)
	c.logger.Info("component stopped", "component", c.controllerManager.name)
}

// StartControllerManager starts kube-controller-manager again after
// StopControllerManager and waits until it is healthy.
func (c *Cluster) StartControllerManager(ctx context.Context) error {
	if err := c.checkRunning(); err != nil {
		return err
	}
	return c.startProcess(ctx, c.controllerManager, c.controllerManagerReady)
}

// RestartAPIServer kills kube-apiserver, waits for it to exit, and starts it
// again on the same port with the same etcd data. It returns once the new API
// server is ready. The other components reconnect on their own.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if err := c.checkRunning(); err != nil {
		return err
	}
	// The API server keeps no state of its own, so SIGKILL loses nothing.
	// SIGTERM did not end kube-apiserver v1.37.2 within 60 s while the other
	// components were connected.
	c.apiServer.stop(0)
	c.logger.Info("component stopped", "component", c.apiServer.name)
	return c.startProcess(ctx, c.apiServer, c.apiServerReady)
}

func (c *Cluster) checkRunning() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("cluster is stopped")
	}
	return nil
}

// KeepLogs makes Stop keep the log folder and returns its path.
func (c *Cluster) KeepLogs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keepLogs = true
	return c.logDir
}

// Stop stops every component, clients first and etcd last, and removes the
// cluster's temporary folder. The log folder is kept if Options.LogDir was
// set or KeepLogs was called. Stop may be called more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()

	for _, p := range c.processes() {
		grace := stopGrace
		if p == c.apiServer {
			// kube-apiserver v1.37.2 did not exit within 60 s of SIGTERM
			// while the other components held watches, and it keeps no
			// state of its own.
			grace = 0
		}
		p.stop(grace)
	}
	unregister(c)
	c.logger.Info("cluster stopped")
	return c.removeFiles()
}

// abort kills every component without waiting, for the signal handler and
// for a failed start, and keeps the logs.
func (c *Cluster) abort() string {
	c.mu.Lock()
	c.stopped = true
	c.keepLogs = true
	c.mu.Unlock()

	for _, p := range c.processes() {
		p.kill()
	}
	for _, p := range c.processes() {
		p.stop(0)
	}
	c.removeFiles()
	return c.logDir
}

// processes lists the components in the order they stop.
func (c *Cluster) processes() []*process {
	return []*process{c.kwok, c.scheduler, c.controllerManager, c.apiServer, c.etcd}
}

// removeFiles removes the cluster folder, except the log folder inside it
// when the logs are kept. A log folder that the caller chose lies outside.
func (c *Cluster) removeFiles() error {
	c.mu.Lock()
	keepInside := c.keepLogs && c.ownLogs
	c.mu.Unlock()

	if !keepInside {
		return os.RemoveAll(c.dir)
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("clean cluster folder: %w", err)
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(c.dir, e.Name())
		if path == c.logDir {
			continue
		}
		errs = append(errs, os.RemoveAll(path))
	}
	return errors.Join(errs...)
}
