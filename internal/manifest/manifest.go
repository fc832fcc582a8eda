// Package manifest reads Kubernetes objects from YAML or JSON files: the
// output of kubectl get -o yaml or -o json, including kind List, and
// multi-document manifests.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Objects are the objects read from files, by kind.
type Objects struct {
	CronJobs []*batchv1.CronJob
	Jobs     []*batchv1.Job
	Pods     []*corev1.Pod
	// CustomResources are the Argo Workflows and spark-operator objects,
	// kept unstructured: the informer transform decodes them as in serve,
	// and skips one of an unexpected shape instead of failing the read.
	CustomResources []*unstructured.Unstructured
	// Skipped describes each object of a kind batchwatch does not read.
	Skipped []string
}

// customResourceKinds are the custom resources batchwatch reads, by
// apiVersion.
var customResourceKinds = map[string][]string{
	"argoproj.io/v1alpha1":         {"CronWorkflow", "Workflow"},
	"sparkoperator.k8s.io/v1beta2": {"ScheduledSparkApplication", "SparkApplication"},
}

// ReadFile reads every object of the file at path into objs.
func (objs *Objects) ReadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return objs.Read(path, data)
}

// Read decodes the documents of data, named source in errors, into objs.
func (objs *Objects) Read(source string, data []byte) error {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for document := 1; ; document++ {
		var raw map[string]any
		err := decoder.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: invalid YAML or JSON: %w", source, document, err)
		}
		if len(raw) == 0 {
			continue
		}
		if err := objs.add(fmt.Sprintf("%s: document %d", source, document), raw); err != nil {
			return err
		}
	}
}

// add decodes one object, expanding lists.
func (objs *Objects) add(where string, raw map[string]any) error {
	obj := &unstructured.Unstructured{Object: raw}
	kind := obj.GetKind()
	if kind == "" {
		return fmt.Errorf("%s: object has no kind", where)
	}

	if obj.IsList() || strings.HasSuffix(kind, "List") {
		items, ok := raw["items"].([]any)
		if !ok && raw["items"] != nil {
			return fmt.Errorf("%s: %s items is not a list", where, kind)
		}
		for n, item := range items {
			itemMap, ok := item.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %s item %d is not an object", where, kind, n)
			}
			if err := objs.add(fmt.Sprintf("%s: item %d", where, n), itemMap); err != nil {
				return err
			}
		}
		return nil
	}

	group := obj.GroupVersionKind().Group
	name := obj.GetNamespace() + "/" + obj.GetName()
	switch {
	case group == "batch" && kind == "CronJob":
		cj := &batchv1.CronJob{}
		if err := convert(raw, cj); err != nil {
			return fmt.Errorf("%s: CronJob %s: %w", where, name, err)
		}
		objs.CronJobs = append(objs.CronJobs, cj)
	case group == "batch" && kind == "Job":
		job := &batchv1.Job{}
		if err := convert(raw, job); err != nil {
			return fmt.Errorf("%s: Job %s: %w", where, name, err)
		}
		objs.Jobs = append(objs.Jobs, job)
	case group == "" && kind == "Pod":
		pod := &corev1.Pod{}
		if err := convert(raw, pod); err != nil {
			return fmt.Errorf("%s: Pod %s: %w", where, name, err)
		}
		objs.Pods = append(objs.Pods, pod)
	case slices.Contains(customResourceKinds[obj.GetAPIVersion()], kind):
		objs.CustomResources = append(objs.CustomResources, obj)
	default:
		objs.Skipped = append(objs.Skipped, fmt.Sprintf("%s: %s %s %s", where, obj.GetAPIVersion(), kind, name))
	}
	return nil
}

// convert fills a typed object from decoded JSON, rejecting fields of the
// wrong type.
func convert(raw map[string]any, into runtime.Object) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, into); err != nil {
		return fmt.Errorf("invalid object: %w", err)
	}
	return nil
}
