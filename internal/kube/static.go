package kube

import (
	"fmt"
	"log/slog"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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
