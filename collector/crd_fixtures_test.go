package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"
)

// objectsFromYAML decodes a multi-document manifest of custom resources.
func objectsFromYAML(t testing.TB, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var objects []*unstructured.Unstructured
	for _, document := range strings.Split(manifest, "\n---\n") {
		if strings.TrimSpace(document) == "" {
			continue
		}
		var raw map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(document), &raw))
		objects = append(objects, &unstructured.Unstructured{Object: raw})
	}
	return objects
}

// crdFixture holds the caches, sources and collector of one custom
// resource test.
type crdFixture struct {
	cronWorkflows, workflows    cache.Indexer
	scheduled, sparkApplication cache.Indexer
	recorder                    *Recorder
	argo                        *ArgoSource
	spark                       *SparkSource
	collector                   *Collector
}

// newCRDFixture builds a collector over the given objects at now, decoding
// each as the informer transform does and feeding it to the sources' event
// handlers as an informer's initial list would.
func newCRDFixture(t testing.TB, now string, since time.Time, objects ...*unstructured.Unstructured) *crdFixture {
	t.Helper()
	newStore := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	f := &crdFixture{
		cronWorkflows:    newStore(),
		workflows:        newStore(),
		scheduled:        newStore(),
		sparkApplication: newStore(),
		recorder:         NewRecorder(since),
	}
	synced := func() bool { return true }
	f.argo = NewArgoSource(func() Store { return f.cronWorkflows }, func() Store { return f.workflows }, synced,
		f.recorder, "UTC", discardLogger)
	f.spark = NewSparkSource(func() Store { return f.scheduled }, func() Store { return f.sparkApplication }, synced,
		f.recorder, "UTC", discardLogger)
	f.collector = New(Options{
		Sources:         []Source{f.argo, f.spark},
		Recorder:        f.recorder,
		Clock:           clocktesting.NewFakePassiveClock(at(now)),
		ScheduleGrace:   5 * time.Minute,
		DefaultTimeZone: "UTC",
		Logger:          discardLogger,
	})

	var decoded []any
	for _, u := range objects {
		obj := decodeCustomResource(t, u)
		decoded = append(decoded, obj)
		switch o := obj.(type) {
		case *CronWorkflow:
			require.NoError(t, f.cronWorkflows.Add(o))
		case *Workflow:
			require.NoError(t, f.workflows.Add(o))
		case *ScheduledSparkApplication:
			require.NoError(t, f.scheduled.Add(o))
		case *SparkApplication:
			require.NoError(t, f.sparkApplication.Add(o))
		}
	}
	for _, obj := range decoded {
		switch o := obj.(type) {
		case *CronWorkflow:
			f.argo.OnCronWorkflow(nil, o)
		case *Workflow:
			f.argo.OnWorkflow(nil, o)
		case *ScheduledSparkApplication:
			f.spark.OnScheduledSparkApplication(nil, o)
		case *SparkApplication:
			f.spark.OnSparkApplication(nil, o)
		}
	}
	return f
}

// decodeCustomResource decodes one object by its kind and fails the test on
// a decoding error.
func decodeCustomResource(t testing.TB, u *unstructured.Unstructured) any {
	t.Helper()
	var (
		obj any
		err error
	)
	switch u.GetKind() {
	case "CronWorkflow":
		obj, err = DecodeCronWorkflow(u)
	case "Workflow":
		obj, _, err = DecodeWorkflow(u)
	case "ScheduledSparkApplication":
		obj, err = DecodeScheduledSparkApplication(u)
	case "SparkApplication":
		obj, _, err = DecodeSparkApplication(u)
	default:
		t.Fatalf("no decoder for kind %q", u.GetKind())
	}
	require.NoError(t, err, "decode %s %s", u.GetKind(), u.GetName())
	return obj
}
