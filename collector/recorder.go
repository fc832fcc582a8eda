package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// durationBuckets span batch runs from seconds to a day, in seconds.
var durationBuckets = []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200, 86400}

// Outcomes of finished runs, the values of the outcome label.
const (
	outcomeSucceeded = "succeeded"
	outcomeFailed    = "failed"
)

// Recorder holds the only state batchwatch keeps across scrapes: counters
// and histograms of finished runs, failed pods and skipped slots. Informer
// event handlers feed it once per run UID; everything else is computed from
// the caches at scrape time.
type Recorder struct {
	// since is when watching started: a run or pod that finished earlier
	// is history that a restart must not replay. Zero counts everything,
	// as batchwatch evaluate does.
	since time.Time

	mu          sync.Mutex
	seenRuns    map[types.UID]struct{}
	seenPods    map[types.UID]podSeen
	finished    map[finishedKey]uint64
	durations   map[durationKey]*histogram
	podFailures map[podFailureKey]uint64
	skipped     map[skippedKey]uint64
}

type workloadKey struct {
	namespace, kind, workload string
}

type finishedKey struct {
	workloadKey
	outcome, reason string
}

type durationKey struct {
	workloadKey
	outcome string
}

type podFailureKey struct {
	workloadKey
	reason, exitCode string
}

type skippedKey struct {
	namespace, kind, name, reason string
}

// podSeen remembers what was already counted for a pod.
type podSeen struct {
	failed   bool
	restarts map[string]int32
}

type histogram struct {
	count   uint64
	sum     float64
	buckets []uint64
}

// NewRecorder returns a Recorder that counts what finishes at or after since.
// Kubernetes timestamps have whole seconds, so since is truncated to the
// second: a run that finished in the second batchwatch started is counted.
func NewRecorder(since time.Time) *Recorder {
	return &Recorder{
		since:       since.Truncate(time.Second),
		seenRuns:    map[types.UID]struct{}{},
		seenPods:    map[types.UID]podSeen{},
		finished:    map[finishedKey]uint64{},
		durations:   map[durationKey]*histogram{},
		podFailures: map[podFailureKey]uint64{},
		skipped:     map[skippedKey]uint64{},
	}
}

func runWorkloadKey(r *Run) workloadKey {
	return workloadKey{namespace: r.Namespace, kind: r.Kind, workload: r.Workload.Name}
}

// ObserveRun counts a finished run once per UID. Runs that are not finished,
// or finished before the recorder started, are ignored.
func (rec *Recorder) ObserveRun(r *Run) {
	if !r.State.Finished() || r.Finished == nil || r.Finished.Before(rec.since) {
		return
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if _, seen := rec.seenRuns[r.UID]; seen {
		return
	}
	rec.seenRuns[r.UID] = struct{}{}

	outcome := outcomeSucceeded
	if r.State == RunFailed {
		outcome = outcomeFailed
	}
	key := runWorkloadKey(r)
	rec.finished[finishedKey{workloadKey: key, outcome: outcome, reason: r.Reason}]++

	if d, ok := r.Duration(); ok {
		h := rec.durations[durationKey{workloadKey: key, outcome: outcome}]
		if h == nil {
			h = &histogram{buckets: make([]uint64, len(durationBuckets))}
			rec.durations[durationKey{workloadKey: key, outcome: outcome}] = h
		}
		h.observe(d.Seconds())
	}
}

// ForgetRun drops the memory of a deleted run; its UID never comes back.
func (rec *Recorder) ForgetRun(uid types.UID) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	delete(rec.seenRuns, uid)
}

// ObservePod counts a pod's failure once, and each container restart once,
// for the run it belongs to. failedAt is when the pod failed; a pod first
// seen after it failed before the recorder started is history. ignored is
// true when the run's podFailurePolicy ignores the failure.
func (rec *Recorder) ObservePod(uid types.UID, r *Run, failed bool, failedAt time.Time, ignored bool, failure PodFailure, restarts map[string]containerRestart, created time.Time) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen, known := rec.seenPods[uid]
	if !known {
		seen = podSeen{restarts: map[string]int32{}}
		// Restarts of a pod that existed before watching started cannot be
		// dated, so its current counts are the baseline.
		if created.Before(rec.since) {
			for name, restart := range restarts {
				seen.restarts[name] = restart.count
			}
		}
	}

	key := runWorkloadKey(r)
	for name, restart := range restarts {
		if delta := restart.count - seen.restarts[name]; delta > 0 {
			rec.podFailures[podFailureKey{workloadKey: key, reason: restart.failure.Reason, exitCode: restart.failure.ExitCode}] += uint64(delta)
		}
		seen.restarts[name] = restart.count
	}

	if failed && !seen.failed {
		seen.failed = true
		if !ignored && !failedAt.Before(rec.since) {
			rec.podFailures[podFailureKey{workloadKey: key, reason: failure.Reason, exitCode: failure.ExitCode}]++
		}
	}
	rec.seenPods[uid] = seen
}

// ForgetPod drops the memory of a deleted pod.
func (rec *Recorder) ForgetPod(uid types.UID) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	delete(rec.seenPods, uid)
}

// skippedSlots returns the slots counted for a schedule and reason.
func (rec *Recorder) skippedSlots(s *Schedule, reason string) uint64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.skipped[skippedKey{namespace: s.Namespace, kind: s.Kind, name: s.Name, reason: reason}]
}

// ObserveSkipped adds slots a schedule passed over without a run.
func (rec *Recorder) ObserveSkipped(s *Schedule, reason string, slots int) {
	if slots <= 0 {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.skipped[skippedKey{namespace: s.Namespace, kind: s.Kind, name: s.Name, reason: reason}] += uint64(slots)
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, upper := range durationBuckets {
		if v <= upper {
			h.buckets[i]++
		}
	}
}

// collect emits the recorded counters and histograms of runs and pods. The
// skipped-slot counters are emitted with their schedules, so that every
// valid schedule has them from 0 on.
func (rec *Recorder) collect(ch chan<- prometheus.Metric) {
	rec.mu.Lock()
	defer rec.mu.Unlock()

	for k, n := range rec.finished {
		emit(ch, runsFinishedDesc, prometheus.CounterValue, float64(n), k.namespace, k.kind, k.workload, k.outcome, k.reason)
	}
	for k, h := range rec.durations {
		buckets := make(map[float64]uint64, len(durationBuckets))
		for i, upper := range durationBuckets {
			buckets[upper] = h.buckets[i]
		}
		m, err := prometheus.NewConstHistogram(runDurationDesc, h.count, h.sum, buckets, k.namespace, k.kind, k.workload, k.outcome)
		if err != nil {
			m = prometheus.NewInvalidMetric(runDurationDesc, err)
		}
		ch <- m
	}
	for k, n := range rec.podFailures {
		emit(ch, podFailuresDesc, prometheus.CounterValue, float64(n), k.namespace, k.kind, k.workload, k.reason, k.exitCode)
	}
}

// emit sends one const metric, or an invalid metric that fails only this
// series when the label values do not fit the descriptor.
func emit(ch chan<- prometheus.Metric, desc *prometheus.Desc, valueType prometheus.ValueType, value float64, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, valueType, value, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- m
}
