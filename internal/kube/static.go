package kube

import (
	"fmt"
	"log/slog"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/batchwatch/batchwatch/collector"
)

// StaticSource builds a collector source over fixed objects, as read from
// files, and feeds every finished run, failed pod and container restart to
// the recorder, as informer events would.
func StaticSource(cronJobs []*batchv1.CronJob, jobs []*batchv1.Job, pods []*corev1.Pod,
	recorder *collector.Recorder, defaultZone string, logger *slog.Logger,
) (*collector.BatchSource, error) {
	namespaceIndex := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	cronJobStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, namespaceIndex)
	jobStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, namespaceIndex)
	podStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{
		cache.NamespaceIndex:     cache.MetaNamespaceIndexFunc,
		collector.PodsByJobIndex: collector.IndexPodByJob,
	})

	for _, cj := range cronJobs {
		if err := addStripped(cronJobStore, cj); err != nil {
			return nil, err
		}
	}
	for _, job := range jobs {
		if err := addStripped(jobStore, job); err != nil {
			return nil, err
		}
	}
	for _, pod := range pods {
		if err := addStripped(podStore, pod); err != nil {
			return nil, err
		}
	}

	source := collector.NewBatchSource(cronJobStore, jobStore, podStore, func() bool { return true },
		recorder, defaultZone, logger)
	for _, obj := range cronJobStore.List() {
		source.OnCronJob(nil, obj.(*batchv1.CronJob))
	}
	for _, obj := range jobStore.List() {
		source.OnJob(obj.(*batchv1.Job))
	}
	for _, obj := range podStore.List() {
		source.OnPod(obj.(*corev1.Pod))
	}
	return source, nil
}

func addStripped(store cache.Indexer, obj any) error {
	stripped, err := TransformObject(obj)
	if err != nil {
		return err
	}
	if err := store.Add(stripped); err != nil {
		return fmt.Errorf("add object to cache: %w", err)
	}
	return nil
}

// StaticCustomResources builds the Argo and spark-operator sources over
// custom resources read from files. Each object goes through the informer
// transform, so an object of an unexpected shape is counted in unexpected
// and skipped as in serve, and every finished run counts as observed. Only
// an engine with objects in the files gets a source, so that a dump of
// batch/v1 objects prints no series of engines it does not contain.
func StaticCustomResources(objects []*unstructured.Unstructured, recorder *collector.Recorder,
	unexpected *collector.UnexpectedObjects, defaultZone string, logger *slog.Logger,
) ([]collector.Source, error) {
	c := NewCustomResources(CustomResourceOptions{
		DefaultZone: defaultZone,
		Recorder:    recorder,
		Unexpected:  unexpected,
		Logger:      logger,
	})
	for _, wr := range c.resources {
		wr.static = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}

	groups := map[string]bool{}
	for _, u := range objects {
		wr := c.resourceOf(u)
		if wr == nil {
			return nil, fmt.Errorf("%s %s %s/%s: not an Argo or spark-operator resource batchwatch reads",
				u.GetAPIVersion(), u.GetKind(), u.GetNamespace(), u.GetName())
		}
		// The transform returns no error: it turns an object of an
		// unexpected shape into a placeholder.
		obj, _ := c.transform(wr)(u)
		if err := wr.static.Add(obj); err != nil {
			return nil, fmt.Errorf("add object to cache: %w", err)
		}
		groups[wr.gvr.Group] = true
	}

	// Deliver each object as an informer's initial list would.
	for _, wr := range c.resources {
		for _, obj := range wr.static.List() {
			wr.handlers.OnAdd(obj, true)
		}
	}

	var sources []collector.Source
	if groups[argoGroupVersion.Group] {
		sources = append(sources, c.argo)
	}
	if groups[sparkGroupVersion.Group] {
		sources = append(sources, c.spark)
	}
	return sources, nil
}

// resourceOf returns the watched resource of an object's group, version
// and kind, nil for any other object.
func (c *CustomResources) resourceOf(u *unstructured.Unstructured) *watchedResource {
	gvk := u.GroupVersionKind()
	for _, wr := range c.resources {
		if wr.gvr.GroupVersion() == gvk.GroupVersion() && wr.kind == gvk.Kind {
			return wr
		}
	}
	return nil
}
