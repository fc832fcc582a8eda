//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	dto "github.com/prometheus/client_model/go"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// exporter is a running `batchwatch serve`.
type exporter struct {
	*cluster.Server
}

// startExporter runs batchwatch against the kubeconfig and stops it when the
// test ends. It does not wait for /readyz.
func startExporter(t *testing.T, kubeconfig string, args ...string) exporter {
	t.Helper()
	server, err := cluster.StartBatchwatch(t.Context(), kubeconfig, args...)
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, server)
	return exporter{server}
}

// waitReady waits until /readyz returns 200.
func (e exporter) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, "batchwatch /readyz returns 200", func(ctx context.Context) error {
		if !e.Ready(ctx) {
			return errors.New("/readyz is not 200")
		}
		return nil
	})
}

// scrape is one scrape of /metrics. batchwatch read its clock for the
// scrape-time values somewhere between before and after.
type scrape struct {
	families      map[string]*dto.MetricFamily
	before, after time.Time
}

func (e exporter) scrape(ctx context.Context) (scrape, error) {
	before := time.Now()
	families, err := e.Scrape(ctx)
	after := time.Now()
	if err != nil {
		return scrape{}, err
	}
	return scrape{families: families, before: before, after: after}, nil
}

// rawMetrics returns the body of /metrics as batchwatch serves it.
func (e exporter) rawMetrics(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL()+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s: %s", e.URL(), resp.Status, body)
	}
	return body, nil
}

// find returns the value of the first series of family name whose labels
// have the listed values. An empty listed value also matches an absent
// label, as in Prometheus. A histogram's value is its sample count.
func (s scrape) find(name string, labels map[string]string) (float64, bool) {
	family, ok := s.families[name]
	if !ok {
		return 0, false
	}
	for _, m := range family.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, labels map[string]string) bool {
	for name, want := range labels {
		got := ""
		for _, pair := range m.GetLabel() {
			if pair.GetName() == name {
				got = pair.GetValue()
				break
			}
		}
		if got != want {
			return false
		}
	}
	return true
}

// value returns the value of a series that must exist.
func (s scrape) value(name string, labels map[string]string) (float64, error) {
	v, ok := s.find(name, labels)
	if !ok {
		return 0, fmt.Errorf("no series %s in the scrape", series(name, labels))
	}
	return v, nil
}

// count returns the value of a counter or gauge series, 0 when it is absent:
// batchwatch emits such counters only once they are above 0.
func (s scrape) count(name string, labels map[string]string) float64 {
	v, _ := s.find(name, labels)
	return v
}

// expect returns an error unless the series exists with the value want.
func (s scrape) expect(name string, labels map[string]string, want float64) error {
	got, err := s.value(name, labels)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s = %g, want %g", series(name, labels), got, want)
	}
	return nil
}

// series formats a family name and labels the way PromQL writes a selector.
func series(name string, labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// labelSet builds a label map from name, value pairs.
func labelSet(pairs ...string) map[string]string {
	labels := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		labels[pairs[i]] = pairs[i+1]
	}
	return labels
}

// with returns a copy of labels with the pairs added.
func with(labels map[string]string, pairs ...string) map[string]string {
	merged := labelSet(pairs...)
	for k, v := range labels {
		if _, ok := merged[k]; !ok {
			merged[k] = v
		}
	}
	return merged
}

func scheduleSeries(namespace, name string) map[string]string {
	return labelSet("namespace", namespace, "kind", "CronJob", "name", name)
}

func jobSeries(namespace, name, workload string) map[string]string {
	return labelSet("namespace", namespace, "kind", "Job", "name", name, "workload", workload)
}

func workloadSeries(namespace, kind, workload string) map[string]string {
	return labelSet("namespace", namespace, "kind", kind, "workload", workload)
}

// valueError is a wrong value that waiting longer cannot fix: a value that
// contradicts the cluster state read before the scrape. waitUntil stops at
// once on it.
type valueError struct {
	err error
}

func (e valueError) Error() string { return e.err.Error() }

func wrongValue(format string, args ...any) error {
	return valueError{fmt.Errorf(format, args...)}
}

// waitUntil polls check every half second until it returns nil. It fails the
// test with check's last error when timeout passes, and at once when check
// returns a valueError.
func waitUntil(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		err := check(ctx)
		if err != nil && ctx.Err() != nil && last != nil {
			// The deadline cut this attempt short, so the previous
			// error is kept: it names the value that was wrong.
			return false, nil
		}
		last = err
		var wrong valueError
		if errors.As(last, &wrong) {
			return false, last
		}
		return last == nil, nil
	})
	if err == nil {
		return
	}
	var wrong valueError
	if errors.As(err, &wrong) {
		t.Fatalf("%s: %v", what, err)
	}
	t.Fatalf("%s: not reached within %s: %v", what, timeout, last)
}

// holdsFor polls check every half second for the whole duration and fails
// the test as soon as it returns an error.
func holdsFor(t *testing.T, duration time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	var broken error
	_ = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, duration, true, func(context.Context) (bool, error) {
		// The end of the duration must not cut a check short, so each
		// check runs under the test's context.
		broken = check(t.Context())
		return broken != nil, nil
	})
	if broken != nil {
		t.Fatalf("%s: %v", what, broken)
	}
}
