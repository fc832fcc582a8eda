package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/batchwatch/batchwatch/collector"
)

// The custom resource informers below work as those of
// k8s.io/client-go/dynamic/dynamicinformer, built by hand so that they track
// the health of their list and watch calls like the batch informers do.

// defaultDiscoveryInterval is how often discovery is polled for custom
// resources that were installed or removed.
const defaultDiscoveryInterval = 30 * time.Second

// Group versions of the engines batchwatch reads through discovery.
var (
	argoGroupVersion  = schema.GroupVersion{Group: "argoproj.io", Version: "v1alpha1"}
	sparkGroupVersion = schema.GroupVersion{Group: "sparkoperator.k8s.io", Version: "v1beta2"}
)

// ResourceDiscovery is the part of the discovery client that tells which
// resources of a group version the API server serves. A NotFound error
// means it serves none.
type ResourceDiscovery interface {
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
}

// CustomResourceOptions configure CustomResources.
type CustomResourceOptions struct {
	Discovery ResourceDiscovery
	Client    dynamic.Interface
	// Namespaces limits watching to these namespaces; empty watches all.
	Namespaces []string
	// DiscoveryInterval is how often discovery is polled; 30s when zero.
	DiscoveryInterval time.Duration
	DefaultZone       string
	Recorder          *collector.Recorder
	// Unexpected counts the objects that do not have their documented shape.
	Unexpected *collector.UnexpectedObjects
	Logger     *slog.Logger
}

// CustomResources runs dynamic informers for the Argo Workflows and
// spark-operator resources that the API server serves. Discovery, polled
// every DiscoveryInterval, starts the informers of a resource once its CRD
// is installed and stops them when it is removed. A resource that is not
// served reads as empty and synced: its engine reports no objects and does
// not hold back readiness.
type CustomResources struct {
	discovery  ResourceDiscovery
	client     dynamic.Interface
	namespaces []string
	interval   time.Duration
	unexpected *collector.UnexpectedObjects
	logger     *slog.Logger

	resources []*watchedResource
	argo      *collector.ArgoSource
	spark     *collector.SparkSource

	// discoveryFailing remembers a failing discovery call, so that its
	// error is logged once and not on every poll. Only the polling
	// goroutine reads and writes it.
	discoveryFailing bool
}

// watchedResource is one custom resource and, while it is served, its
// informers.
type watchedResource struct {
	gvr  schema.GroupVersionResource
	kind string
	// decode turns the unstructured object into the struct its source
	// reads; unexpected names a readable oddity to count.
	decode   func(u *unstructured.Unstructured) (obj any, unexpected string, err error)
	handlers cache.ResourceEventHandlerFuncs

	mu      sync.Mutex
	running *runningResource
	// static is the cache of objects read from files, for evaluate.
	static cache.Indexer
}

// runningResource is the informers of a served resource.
type runningResource struct {
	res    *resource
	store  collector.Store
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCustomResources builds the sources and the discovery loop; Start runs
// them.
func NewCustomResources(opts CustomResourceOptions) *CustomResources {
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	interval := opts.DiscoveryInterval
	if interval <= 0 {
		interval = defaultDiscoveryInterval
	}
	c := &CustomResources{
		discovery:  opts.Discovery,
		client:     opts.Client,
		namespaces: namespaces,
		interval:   interval,
		unexpected: opts.Unexpected,
		logger:     opts.Logger,
	}

	cronWorkflows := &watchedResource{
		gvr: argoGroupVersion.WithResource("cronworkflows"), kind: "CronWorkflow",
		decode: func(u *unstructured.Unstructured) (any, string, error) {
			obj, err := collector.DecodeCronWorkflow(u)
			return obj, "", err
		},
	}
	workflows := &watchedResource{
		gvr: argoGroupVersion.WithResource("workflows"), kind: "Workflow",
		decode: func(u *unstructured.Unstructured) (any, string, error) {
			return collector.DecodeWorkflow(u)
		},
	}
	scheduled := &watchedResource{
		gvr: sparkGroupVersion.WithResource("scheduledsparkapplications"), kind: "ScheduledSparkApplication",
		decode: func(u *unstructured.Unstructured) (any, string, error) {
			obj, err := collector.DecodeScheduledSparkApplication(u)
			return obj, "", err
		},
	}
	applications := &watchedResource{
		gvr: sparkGroupVersion.WithResource("sparkapplications"), kind: "SparkApplication",
		decode: func(u *unstructured.Unstructured) (any, string, error) {
			return collector.DecodeSparkApplication(u)
		},
	}
	c.resources = []*watchedResource{cronWorkflows, workflows, scheduled, applications}

	c.argo = collector.NewArgoSource(cronWorkflows.store, workflows.store, allSynced(cronWorkflows, workflows),
		opts.Recorder, opts.DefaultZone, opts.Logger)
	c.spark = collector.NewSparkSource(scheduled.store, applications.store, allSynced(scheduled, applications),
		opts.Recorder, opts.DefaultZone, opts.Logger)
	c.addHandlers(cronWorkflows, workflows, scheduled, applications)
	return c
}

// allSynced reports whether the resources completed their first list; see
// resource.hasSynced for why a later outage does not count.
func allSynced(resources ...*watchedResource) func() bool {
	return func() bool {
		for _, wr := range resources {
			if !wr.hasSynced() {
				return false
			}
		}
		return true
	}
}

// addHandlers connects each resource's informer events to its source. An
// object that could not be decoded is a placeholder in the cache, which the
// handlers skip. Its next valid version then arrives as if it were new.
func (c *CustomResources) addHandlers(cronWorkflows, workflows, scheduled, applications *watchedResource) {
	cronWorkflows.handlers = cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if cw, ok := obj.(*collector.CronWorkflow); ok {
				c.argo.OnCronWorkflow(nil, cw)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if updated, ok := newObj.(*collector.CronWorkflow); ok {
				old, _ := oldObj.(*collector.CronWorkflow)
				c.argo.OnCronWorkflow(old, updated)
			}
		},
	}
	workflows.handlers = cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if w, ok := obj.(*collector.Workflow); ok {
				c.argo.OnWorkflow(nil, w)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if updated, ok := newObj.(*collector.Workflow); ok {
				old, _ := oldObj.(*collector.Workflow)
				c.argo.OnWorkflow(old, updated)
			}
		},
		DeleteFunc: func(obj any) {
			if w, ok := tombstoneObject(obj).(*collector.Workflow); ok {
				c.argo.OnWorkflowDelete(w)
			}
		},
	}
	scheduled.handlers = cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ssa, ok := obj.(*collector.ScheduledSparkApplication); ok {
				c.spark.OnScheduledSparkApplication(nil, ssa)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if updated, ok := newObj.(*collector.ScheduledSparkApplication); ok {
				old, _ := oldObj.(*collector.ScheduledSparkApplication)
				c.spark.OnScheduledSparkApplication(old, updated)
			}
		},
	}
	applications.handlers = cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if app, ok := obj.(*collector.SparkApplication); ok {
				c.spark.OnSparkApplication(nil, app)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if updated, ok := newObj.(*collector.SparkApplication); ok {
				old, _ := oldObj.(*collector.SparkApplication)
				c.spark.OnSparkApplication(old, updated)
			}
		},
		DeleteFunc: func(obj any) {
			if app, ok := tombstoneObject(obj).(*collector.SparkApplication); ok {
				c.spark.OnSparkApplicationDelete(app)
			}
		},
	}
}

// Sources returns the Argo and spark-operator sources, in that order. A
// source whose resources are all missing from the API server reports as not
// served, so the collector emits nothing for an engine that is not installed.
func (c *CustomResources) Sources() []collector.Source {
	return []collector.Source{
		servedSource{Source: c.argo, served: c.servedFunc(argoGroupVersion)},
		servedSource{Source: c.spark, served: c.servedFunc(sparkGroupVersion)},
	}
}

// servedSource adds Served to a source of optional resources.
type servedSource struct {
	collector.Source
	served func() bool
}

func (s servedSource) Served() bool { return s.served() }

// servedFunc reports whether any resource of the group version has running
// informers or objects read from files.
func (c *CustomResources) servedFunc(gv schema.GroupVersion) func() bool {
	return func() bool {
		for _, wr := range c.resources {
			if wr.gvr.GroupVersion() != gv {
				continue
			}
			wr.mu.Lock()
			served := wr.running != nil || wr.static != nil
			wr.mu.Unlock()
			if served {
				return true
			}
		}
		return false
	}
}

// Start polls discovery once, starting the informers of the resources that
// are served, and then every DiscoveryInterval until ctx is done, which
// also stops the informers.
func (c *CustomResources) Start(ctx context.Context) {
	c.discover(ctx, true)
	go func() {
		ticker := time.NewTicker(c.interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				c.discover(ctx, false)
			}
		}
	}()
}

// discover starts the informers of newly served resources and stops those
// of resources no longer served. first is true on the first pass, which
// logs the resources that are missing.
func (c *CustomResources) discover(ctx context.Context, first bool) {
	var missing []string
	var errs []error
	for _, gv := range []schema.GroupVersion{argoGroupVersion, sparkGroupVersion} {
		served, err := c.servedResources(gv)
		if err != nil {
			// A failing discovery call gives no information about the
			// CRDs, so the informers of the group keep running as they are.
			errs = append(errs, err)
			continue
		}
		for _, wr := range c.resources {
			if wr.gvr.GroupVersion() != gv {
				continue
			}
			switch running := wr.isRunning(); {
			case served[wr.gvr.Resource] && !running:
				c.startResource(ctx, wr)
			case !served[wr.gvr.Resource] && running:
				c.stopResource(wr)
			case !served[wr.gvr.Resource]:
				missing = append(missing, wr.gvr.GroupResource().String())
			}
		}
	}

	switch failed := len(errs) > 0; {
	case failed && !c.discoveryFailing:
		c.logger.Error("discovery failed; custom resources are not added or removed until it succeeds",
			"err", errors.Join(errs...))
	case !failed && c.discoveryFailing:
		c.logger.Info("discovery succeeded again")
	}
	c.discoveryFailing = len(errs) > 0
	if first && len(missing) > 0 {
		c.logger.Info("custom resources not served; watching discovery for them to appear",
			"resources", strings.Join(missing, ","), "interval_seconds", c.interval.Seconds())
	}
}

// servedResources returns the resources of the group version that the API
// server serves, none when it does not serve the group version.
func (c *CustomResources) servedResources(gv schema.GroupVersion) (map[string]bool, error) {
	list, err := c.discovery.ServerResourcesForGroupVersion(gv.String())
	if apierrors.IsNotFound(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", gv, err)
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Name] = true
	}
	return served, nil
}

// startResource starts one informer per namespace for a resource that
// became served.
func (c *CustomResources) startResource(ctx context.Context, wr *watchedResource) {
	res := newResource(wr.gvr.Resource)
	for _, ns := range c.namespaces {
		res.add(c.newInformer(wr, res, ns))
	}
	res.handle(wr.handlers)

	runCtx, cancel := context.WithCancel(ctx)
	running := &runningResource{res: res, store: res.store(), cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, t := range res.informers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.RunWithContext(runCtx)
		}()
	}
	go func() {
		wg.Wait()
		close(running.done)
	}()

	wr.mu.Lock()
	wr.running = running
	wr.mu.Unlock()
	c.logger.Info("custom resource served; informer started", "resource", wr.gvr.GroupResource().String(),
		"version", wr.gvr.Version, "informers", len(res.informers))

	go func() {
		start := time.Now()
		synced := make([]cache.InformerSynced, 0, len(res.informers))
		for _, t := range res.informers {
			synced = append(synced, t.HasSynced)
		}
		if cache.WaitForCacheSync(runCtx.Done(), synced...) {
			c.logger.Info("custom resource cache synced", "resource", wr.gvr.GroupResource().String(),
				"duration_seconds", time.Since(start).Seconds())
		}
	}()
}

// stopResource stops the informers of a resource that is no longer served
// and drops its cache, so its objects leave the scrape.
func (c *CustomResources) stopResource(wr *watchedResource) {
	wr.mu.Lock()
	running := wr.running
	wr.running = nil
	wr.mu.Unlock()

	running.cancel()
	<-running.done
	c.logger.Info("custom resource no longer served; informer stopped", "resource", wr.gvr.GroupResource().String())
}

// newInformer builds the informer of one resource in one namespace, whose
// transform decodes each object into the struct its source reads.
func (c *CustomResources) newInformer(wr *watchedResource, res *resource, namespace string) *trackedInformer {
	t := &trackedInformer{}
	client := c.client.Resource(wr.gvr).Namespace(namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := client.List(ctx, o)
			t.healthy.Store(err == nil)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := client.Watch(ctx, o)
			t.healthy.Store(err == nil)
			return w, err
		},
	}
	t.SharedIndexInformer = cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, c.client),
		&unstructured.Unstructured{}, cache.SharedIndexInformerOptions{
			Indexers:          cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
			ObjectDescription: wr.gvr.String(),
		})
	// Both setters fail only once the informer runs, which it does not yet.
	_ = t.SetTransform(c.transform(wr))
	_ = t.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		t.healthy.Store(false)
		res.watchErrors.Add(1)
		c.logger.Error("list and watch failed; retrying with backoff", "resource", res.name, "err", err)
	})
	return t
}

// rejectedObject takes the place of a custom resource version that could
// not be decoded. Keeping a placeholder under the object's key drops the
// earlier valid version from the cache; the sources skip it.
type rejectedObject struct {
	metav1.ObjectMeta
}

// transform returns the informer transform of a resource: it decodes each
// object and counts the unexpected ones. It returns no error, because an
// error would stop the informer's list for every other object of the
// resource.
func (c *CustomResources) transform(wr *watchedResource) cache.TransformFunc {
	return func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			// Tombstones and objects decoded before pass unchanged.
			return obj, nil
		}

		decoded, unexpected, err := wr.decode(u)
		if err != nil {
			c.unexpected.Add(wr.gvr.Resource, collector.UnexpectedInvalidField)
			c.logger.Debug("custom resource has a field of the wrong type; skipping it", "namespace", u.GetNamespace(),
				"name", u.GetName(), "kind", wr.kind, "resource_version", u.GetResourceVersion(), "err", err)
			return &rejectedObject{ObjectMeta: metav1.ObjectMeta{
				Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion(),
			}}, nil
		}
		if unexpected != "" {
			c.unexpected.Add(wr.gvr.Resource, unexpected)
			c.logger.Debug("custom resource has an unknown phase; counting its run as active", "namespace", u.GetNamespace(),
				"name", u.GetName(), "kind", wr.kind, "resource_version", u.GetResourceVersion(), "reason", unexpected)
		}
		return decoded, nil
	}
}

func (wr *watchedResource) isRunning() bool {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return wr.running != nil
}

// store returns the resource's cache, nil while it is not served.
func (wr *watchedResource) store() collector.Store {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	switch {
	case wr.static != nil:
		return wr.static
	case wr.running != nil:
		return wr.running.store
	}
	return nil
}

// hasSynced reports whether the resource's informers completed their first
// list. A resource that is not served has nothing to sync.
func (wr *watchedResource) hasSynced() bool {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return wr.running == nil || wr.running.res.hasSynced()
}

// synced reports whether the resource's informers have synced and their
// last list or watch call succeeded. A resource that is not served has
// nothing to sync.
func (wr *watchedResource) synced() bool {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return wr.running == nil || wr.running.res.synced()
}

// Stats returns the self-metric values of each served resource.
func (c *CustomResources) Stats() []collector.InformerStats {
	var stats []collector.InformerStats
	for _, wr := range c.resources {
		wr.mu.Lock()
		running := wr.running
		wr.mu.Unlock()
		if running != nil {
			stats = append(stats, running.res.stats())
		}
	}
	return stats
}

// stats returns the self-metric values of the resource's informers.
func (r *resource) stats() collector.InformerStats {
	objects := 0
	for _, t := range r.informers {
		objects += len(t.GetStore().ListKeys())
	}
	events := map[string]uint64{}
	for name, n := range r.events {
		events[name] = n.Load()
	}
	return collector.InformerStats{
		Resource:    r.name,
		Synced:      r.synced(),
		Objects:     objects,
		Events:      events,
		WatchErrors: r.watchErrors.Load(),
	}
}
