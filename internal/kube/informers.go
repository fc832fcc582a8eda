// Package kube wires client-go informers for CronJobs, Jobs and Pods to
// batchwatch's collector: stripping transforms, indexes, event handlers that
// feed the recorder, and health for /readyz and the self-metrics.
package kube

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/batchwatch/batchwatch/collector"
)

// jobPodSelector selects the pods the Job controller creates (the label is
// set since Kubernetes 1.27), so the pod cache holds no other pods.
const jobPodSelector = "batch.kubernetes.io/controller-uid"

// Options configure the informers.
type Options struct {
	Client kubernetes.Interface
	// Namespaces limits watching to these namespaces; empty watches all.
	Namespaces  []string
	DefaultZone string
	Recorder    *collector.Recorder
	Logger      *slog.Logger
}

// Informers holds one informer per resource and namespace.
type Informers struct {
	cronJobs *resource
	jobs     *resource
	pods     *resource
	source   *collector.BatchSource
	logger   *slog.Logger
}

// resource groups the informers of one resource across namespaces.
type resource struct {
	name        string
	informers   []*trackedInformer
	events      map[string]*atomic.Uint64
	watchErrors atomic.Uint64
}

// trackedInformer is an informer with the health of its last list or watch
// call, because HasSynced stays true after the API server goes away.
type trackedInformer struct {
	cache.SharedIndexInformer
	healthy atomic.Bool
}

func (t *trackedInformer) synced() bool { return t.HasSynced() && t.healthy.Load() }

// New builds the informers; Start runs them.
func New(opts Options) *Informers {
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	i := &Informers{logger: opts.Logger}
	client := opts.Client

	i.cronJobs = newResource("cronjobs")
	i.jobs = newResource("jobs")
	i.pods = newResource("pods")
	for _, ns := range namespaces {
		i.cronJobs.add(i.newInformer(client, i.cronJobs, &batchv1.CronJob{}, nil,
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.BatchV1().CronJobs(ns).List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return client.BatchV1().CronJobs(ns).Watch(ctx, o)
			}))
		i.jobs.add(i.newInformer(client, i.jobs, &batchv1.Job{}, nil,
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.BatchV1().Jobs(ns).List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return client.BatchV1().Jobs(ns).Watch(ctx, o)
			}))
		i.pods.add(i.newInformer(client, i.pods, &corev1.Pod{}, cache.Indexers{collector.PodsByJobIndex: collector.IndexPodByJob},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = jobPodSelector
				return client.CoreV1().Pods(ns).List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = jobPodSelector
				return client.CoreV1().Pods(ns).Watch(ctx, o)
			}))
	}

	i.source = collector.NewBatchSource(i.cronJobs.store(), i.jobs.store(), i.pods.store(), i.hasSynced,
		opts.Recorder, opts.DefaultZone, opts.Logger)
	i.addHandlers()
	return i
}

func newResource(name string) *resource {
	return &resource{name: name, events: map[string]*atomic.Uint64{
		"add": {}, "update": {}, "delete": {},
	}}
}

func (r *resource) add(t *trackedInformer) { r.informers = append(r.informers, t) }

func (i *Informers) newInformer(client kubernetes.Interface, res *resource, example runtime.Object, indexers cache.Indexers,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFunc func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *trackedInformer {
	t := &trackedInformer{}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := list(ctx, o)
			t.healthy.Store(err == nil)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := watchFunc(ctx, o)
			t.healthy.Store(err == nil)
			return w, err
		},
	}

	allIndexers := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	for name, fn := range indexers {
		allIndexers[name] = fn
	}
	// The wrapper keeps the client's watch-list capability visible to the
	// reflector; fake clientsets, for one, cannot stream the initial list.
	t.SharedIndexInformer = cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, client), example, cache.SharedIndexInformerOptions{
		Indexers:          allIndexers,
		ObjectDescription: res.name,
	})
	// Both setters fail only once the informer runs, which it does not yet.
	_ = t.SetTransform(TransformObject)
	_ = t.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		t.healthy.Store(false)
		res.watchErrors.Add(1)
		i.logger.Error("list and watch failed; retrying with backoff", "resource", res.name, "err", err)
	})
	return t
}

func (i *Informers) addHandlers() {
	i.cronJobs.handle(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if cj, ok := obj.(*batchv1.CronJob); ok {
				i.source.OnCronJob(nil, cj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*batchv1.CronJob)
			updated, ok2 := newObj.(*batchv1.CronJob)
			if ok1 && ok2 {
				i.source.OnCronJob(old, updated)
			}
		},
	})
	i.jobs.handle(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if job, ok := obj.(*batchv1.Job); ok {
				i.source.OnJob(job)
			}
		},
		UpdateFunc: func(_, newObj any) {
			if job, ok := newObj.(*batchv1.Job); ok {
				i.source.OnJob(job)
			}
		},
		DeleteFunc: func(obj any) {
			if job, ok := tombstoneObject(obj).(*batchv1.Job); ok {
				i.source.OnJobDelete(job)
			}
		},
	})
	i.pods.handle(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				i.source.OnPod(pod)
			}
		},
		UpdateFunc: func(_, newObj any) {
			if pod, ok := newObj.(*corev1.Pod); ok {
				i.source.OnPod(pod)
			}
		},
		DeleteFunc: func(obj any) {
			if pod, ok := tombstoneObject(obj).(*corev1.Pod); ok {
				i.source.OnPodDelete(pod)
			}
		},
	})
}

// handle adds the handler to every informer of the resource, counting each
// event first.
func (r *resource) handle(h cache.ResourceEventHandlerFuncs) {
	counted := cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			r.events["add"].Add(1)
			if h.AddFunc != nil {
				h.AddFunc(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			r.events["update"].Add(1)
			if h.UpdateFunc != nil {
				h.UpdateFunc(oldObj, newObj)
			}
		},
		DeleteFunc: func(obj any) {
			r.events["delete"].Add(1)
			if h.DeleteFunc != nil {
				h.DeleteFunc(obj)
			}
		},
	}
	for _, t := range r.informers {
		// client-go returns an error here only for an informer that has
		// stopped, and these have not started yet.
		_, _ = t.AddEventHandler(counted)
	}
}

func tombstoneObject(obj any) any {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tombstone.Obj
	}
	return obj
}

// store returns the resource's cache: the informer's own indexer for one
// namespace, a union over several.
func (r *resource) store() collector.Store {
	if len(r.informers) == 1 {
		return r.informers[0].GetIndexer()
	}
	union := make(storeUnion, len(r.informers))
	for n, t := range r.informers {
		union[n] = t.GetIndexer()
	}
	return union
}

// hasSynced reports whether every informer of the resource completed its
// first list. It stays true when the API server goes away later, so the
// series go on from the last known state instead of vanishing and firing
// again. informer_synced and /readyz report the outage.
func (r *resource) hasSynced() bool {
	for _, t := range r.informers {
		if !t.HasSynced() {
			return false
		}
	}
	return true
}

func (r *resource) synced() bool {
	for _, t := range r.informers {
		if !t.synced() {
			return false
		}
	}
	return true
}

// Source returns the collector source over the caches.
func (i *Informers) Source() *collector.BatchSource { return i.source }

// Start runs every informer until ctx is done.
func (i *Informers) Start(ctx context.Context) {
	for _, res := range []*resource{i.cronJobs, i.jobs, i.pods} {
		for _, t := range res.informers {
			go t.RunWithContext(ctx)
		}
	}
	i.logger.Info("informers started", "resources", "cronjobs,jobs,pods", "informers", len(i.jobs.informers)*3)
}

// WaitForSync blocks until every cache has synced or ctx is done, and
// reports which.
func (i *Informers) WaitForSync(ctx context.Context) bool {
	start := time.Now()
	var synced []cache.InformerSynced
	for _, res := range []*resource{i.cronJobs, i.jobs, i.pods} {
		for _, t := range res.informers {
			synced = append(synced, t.HasSynced)
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return false
	}
	i.logger.Info("caches synced", "duration_seconds", time.Since(start).Seconds())
	return true
}

// hasSynced reports whether every cache completed its first list.
func (i *Informers) hasSynced() bool {
	return i.cronJobs.hasSynced() && i.jobs.hasSynced() && i.pods.hasSynced()
}

// Synced reports whether every cache has synced and its last list or watch
// call succeeded.
func (i *Informers) Synced() bool {
	return i.cronJobs.synced() && i.jobs.synced() && i.pods.synced()
}

// Stats returns the self-metric values of each resource.
func (i *Informers) Stats() []collector.InformerStats {
	var stats []collector.InformerStats
	for _, res := range []*resource{i.cronJobs, i.jobs, i.pods} {
		objects := 0
		for _, t := range res.informers {
			objects += len(t.GetStore().ListKeys())
		}
		events := map[string]uint64{}
		for name, n := range res.events {
			events[name] = n.Load()
		}
		stats = append(stats, collector.InformerStats{
			Resource:    res.name,
			Synced:      res.synced(),
			Objects:     objects,
			Events:      events,
			WatchErrors: res.watchErrors.Load(),
		})
	}
	return stats
}

// storeUnion reads several namespace caches as one.
type storeUnion []cache.Indexer

func (u storeUnion) List() []any {
	var all []any
	for _, s := range u {
		all = append(all, s.List()...)
	}
	return all
}

func (u storeUnion) ByIndex(indexName, indexedValue string) ([]any, error) {
	var all []any
	for _, s := range u {
		objs, err := s.ByIndex(indexName, indexedValue)
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}

func (u storeUnion) GetByKey(key string) (any, bool, error) {
	for _, s := range u {
		obj, exists, err := s.GetByKey(key)
		if err != nil || exists {
			return obj, exists, err
		}
	}
	return nil, false, nil
}
