// Package collector derives batchwatch's metrics from Kubernetes batch
// objects: the model (Schedule, Run, Workload), the adapters that build it
// from each engine's objects, the schedule math and the Prometheus collector.
package collector

import (
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Source builds the model from the cached objects of one engine.
type Source interface {
	// Name is the value of the collector label of the source's self-metrics.
	Name() string
	// Synced reports whether the source's caches completed their first
	// list. Until then the collector emits none of its object series,
	// because an empty cache would look like real data.
	Synced() bool
	// Snapshot returns the source's schedules and runs.
	Snapshot() ([]*Schedule, []*Run)
}

// OptionalSource is a Source of resources that may not exist in the cluster,
// such as the custom resources of an engine that is not installed. While
// Served is false the collector emits nothing for it, not even
// collector_success, because there is nothing to collect.
type OptionalSource interface {
	Source
	Served() bool
}

// Options configure a Collector.
type Options struct {
	Sources  []Source
	Recorder *Recorder
	Clock    clock.PassiveClock
	// ScheduleGrace is how long a slot may wait for its run before it counts
	// as missed, when the schedule sets no startingDeadlineSeconds.
	ScheduleGrace time.Duration
	// DefaultTimeZone is the zone of schedules that name none: the
	// controller's own zone.
	DefaultTimeZone string
	Logger          *slog.Logger
}

// Collector computes every object series at scrape time from the sources
// and the clock. It is a checked collector: Describe sends every descriptor.
type Collector struct {
	sources  []Source
	recorder *Recorder
	clock    clock.PassiveClock
	grace    time.Duration
	parser   *scheduleParser
	logger   *slog.Logger
}

// New returns a Collector.
func New(opts Options) *Collector {
	return &Collector{
		sources:  opts.Sources,
		recorder: opts.Recorder,
		clock:    opts.Clock,
		grace:    opts.ScheduleGrace,
		parser:   newScheduleParser(opts.DefaultTimeZone),
		logger:   opts.Logger,
	}
}

// objectDescs are the families the Collector emits; the informer families
// come from InformerCollector and build_info from client_golang.
var objectDescs = []*prometheus.Desc{
	scheduleInfoDesc, scheduleSuspendedDesc, scheduleInvalidDesc, scheduleLastScheduledDesc,
	scheduleLastSuccessDesc, scheduleNextDesc, scheduleIntervalDesc, scheduleMissedDesc,
	scheduleOverdueDesc, scheduleSkippedDesc, scheduleActiveDesc,
	workloadLastRunFailedDesc, workloadConsecutiveFailuresDesc,
	runDeadlineUtilizationDesc, runElapsedDesc, runRetriesDesc, runRetryLimitDesc,
	runsFinishedDesc, runDurationDesc, podFailuresDesc,
	backlogRunsDesc, backlogOldestWaitDesc, specCheckFailedDesc,
	collectorSuccessDesc, scrapeDurationDesc,
}

// Describe sends every descriptor the Collector emits.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range objectDescs {
		ch <- d
	}
}

// Collect computes the object series of every synced source, then the
// recorded counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, source := range c.sources {
		if optional, ok := source.(OptionalSource); ok && !optional.Served() {
			continue
		}
		start := c.clock.Now()
		if !source.Synced() {
			emit(ch, collectorSuccessDesc, prometheus.GaugeValue, 0, source.Name())
			continue
		}

		schedules, runs := source.Snapshot()

		c.collectModel(ch, schedules, runs, start)

		emit(ch, collectorSuccessDesc, prometheus.GaugeValue, 1, source.Name())
		emit(ch, scrapeDurationDesc, prometheus.GaugeValue, c.clock.Since(start).Seconds(), source.Name())
	}
	c.recorder.collect(ch)
}

func (c *Collector) collectModel(ch chan<- prometheus.Metric, schedules []*Schedule, runs []*Run, now time.Time) {
	runsBySchedule := map[types.UID][]*Run{}
	for _, r := range runs {
		if r.ScheduleUID != "" {
			runsBySchedule[r.ScheduleUID] = append(runsBySchedule[r.ScheduleUID], r)
		}
	}

	for _, s := range schedules {
		c.collectSchedule(ch, s, runsBySchedule[s.UID], now)
	}
	collectWorkloads(ch, runs)
	for _, r := range runs {
		collectRun(ch, r, now)
	}
	collectBacklog(ch, runs, now)
}

func (c *Collector) collectSchedule(ch chan<- prometheus.Metric, s *Schedule, runs []*Run, now time.Time) {
	parsed, err := c.parser.parse(s.Expression, s.TimeZone)
	zone := parsed.zone
	if err != nil {
		zone, _ = scheduleZone(s.Expression, s.TimeZone, c.parser.defaultZone)
	}
	emit(ch, scheduleInfoDesc, prometheus.GaugeValue, 1, s.Namespace, s.Kind, s.Name, s.Expression, zone, s.ConcurrencyPolicy)
	emit(ch, scheduleSuspendedDesc, prometheus.GaugeValue, boolValue(s.Suspended), s.Namespace, s.Kind, s.Name)
	for _, check := range s.FailedChecks {
		emit(ch, specCheckFailedDesc, prometheus.GaugeValue, 1, s.Namespace, s.Kind, s.Name, check)
	}

	if s.LastScheduled != nil {
		emit(ch, scheduleLastScheduledDesc, prometheus.GaugeValue, unixSeconds(*s.LastScheduled), s.Namespace, s.Kind, s.Name)
	}
	if lastSuccess, ok := lastSuccess(s, runs); ok {
		emit(ch, scheduleLastSuccessDesc, prometheus.GaugeValue, unixSeconds(lastSuccess), s.Namespace, s.Kind, s.Name)
	}
	active := 0
	for _, r := range runs {
		if !r.State.Finished() {
			active++
		}
	}
	emit(ch, scheduleActiveDesc, prometheus.GaugeValue, float64(active), s.Namespace, s.Kind, s.Name)

	// An invalid schedule never runs, so its slot values would be noise.
	if err != nil {
		emit(ch, scheduleInvalidDesc, prometheus.GaugeValue, 1, s.Namespace, s.Kind, s.Name, invalidReason(err))
		return
	}
	emit(ch, scheduleInvalidDesc, prometheus.GaugeValue, 0, s.Namespace, s.Kind, s.Name, "")

	v := evaluateSchedule(s, parsed, runs, now, c.grace)
	if v.hasNext {
		emit(ch, scheduleNextDesc, prometheus.GaugeValue, unixSeconds(v.next), s.Namespace, s.Kind, s.Name)
	}
	if v.hasInterval {
		emit(ch, scheduleIntervalDesc, prometheus.GaugeValue, v.interval.Seconds(), s.Namespace, s.Kind, s.Name)
	}
	emit(ch, scheduleMissedDesc, prometheus.GaugeValue, float64(v.missedNotStarted), s.Namespace, s.Kind, s.Name, reasonNotStarted)
	emit(ch, scheduleMissedDesc, prometheus.GaugeValue, float64(v.missedForbidden), s.Namespace, s.Kind, s.Name, reasonConcurrencyForbidden)
	emit(ch, scheduleOverdueDesc, prometheus.GaugeValue, v.overdue.Seconds(), s.Namespace, s.Kind, s.Name)

	// Both counters start at 0, because increase() cannot see the first
	// increment of a series that appears with the value 1.
	for _, reason := range []string{reasonNotStarted, reasonConcurrencyForbidden} {
		emit(ch, scheduleSkippedDesc, prometheus.CounterValue, float64(c.recorder.skippedSlots(s, reason)), s.Namespace, s.Kind, s.Name, reason)
	}
}

// lastSuccess returns the latest successful finish of a schedule's runs: the
// status field where the engine records it, else the newest retained run.
func lastSuccess(s *Schedule, runs []*Run) (time.Time, bool) {
	var latest time.Time
	if s.LastSuccessful != nil {
		latest = *s.LastSuccessful
	}
	for _, r := range runs {
		if r.State == RunSucceeded && r.Finished != nil && r.Finished.After(latest) {
			latest = *r.Finished
		}
	}
	return latest, !latest.IsZero()
}

// collectWorkloads emits the latest outcome and the failure streak of every
// workload that has a finished run.
func collectWorkloads(ch chan<- prometheus.Metric, runs []*Run) {
	finished := map[workloadKey][]*Run{}
	for _, r := range runs {
		if r.State.Finished() && r.Finished != nil {
			key := workloadKey{namespace: r.Namespace, kind: r.Workload.Kind, workload: r.Workload.Name}
			finished[key] = append(finished[key], r)
		}
	}

	for key, history := range finished {
		failed, streak := failureStreak(history)
		emit(ch, workloadLastRunFailedDesc, prometheus.GaugeValue, boolValue(failed), key.namespace, key.kind, key.workload)
		emit(ch, workloadConsecutiveFailuresDesc, prometheus.GaugeValue, float64(streak), key.namespace, key.kind, key.workload)
	}
}

// failureStreak returns whether the latest finished run failed and how many
// runs failed since the latest success. Runs are ordered by finish time,
// then by name so that runs finished in the same second order stably.
func failureStreak(history []*Run) (bool, int) {
	sort.Slice(history, func(i, j int) bool {
		if !history[i].Finished.Equal(*history[j].Finished) {
			return history[i].Finished.Before(*history[j].Finished)
		}
		return history[i].Name < history[j].Name
	})

	streak := 0
	for i := len(history) - 1; i >= 0 && history[i].State == RunFailed; i-- {
		streak++
	}
	return streak > 0, streak
}

// collectRun emits the series of one active run, and the checklist of a
// standalone run.
func collectRun(ch chan<- prometheus.Metric, r *Run, now time.Time) {
	for _, check := range r.FailedChecks {
		emit(ch, specCheckFailedDesc, prometheus.GaugeValue, 1, r.Namespace, r.Kind, r.Name, check)
	}
	if r.State != RunActive {
		return
	}

	labels := []string{r.Namespace, r.Kind, r.Name, r.Workload.Name}
	if elapsed, ok := runElapsed(r, now); ok {
		emit(ch, runElapsedDesc, prometheus.GaugeValue, elapsed.Seconds(), labels...)
	}
	if ratio, ok := deadlineUtilization(r, now); ok {
		emit(ch, runDeadlineUtilizationDesc, prometheus.GaugeValue, ratio, labels...)
	}
	emit(ch, runRetriesDesc, prometheus.GaugeValue, float64(r.Retries), labels...)
	if r.RetryLimit != nil {
		emit(ch, runRetryLimitDesc, prometheus.GaugeValue, float64(*r.RetryLimit), labels...)
	}
}

func runElapsed(r *Run, now time.Time) (time.Duration, bool) {
	if r.Started == nil {
		return 0, false
	}
	return max(now.Sub(*r.Started), 0), true
}

// deadlineUtilization returns elapsed time over the run's deadline. Pending
// time counts, because the Job controller measures activeDeadlineSeconds
// from status.startTime, not from the first running pod.
func deadlineUtilization(r *Run, now time.Time) (float64, bool) {
	if r.Deadline == nil || *r.Deadline <= 0 {
		return 0, false
	}
	elapsed, ok := runElapsed(r, now)
	if !ok {
		return 0, false
	}
	return elapsed.Seconds() / r.Deadline.Seconds(), true
}

type backlogKey struct {
	namespace, kind, queue string
}

// collectBacklog emits the waiting runs per queue and state, and the longest
// wait per queue.
func collectBacklog(ch chan<- prometheus.Metric, runs []*Run, now time.Time) {
	counts := map[backlogKey]map[string]int{}
	oldest := map[backlogKey]time.Time{}
	for _, r := range runs {
		if r.BacklogState == "" {
			continue
		}
		key := backlogKey{namespace: r.Namespace, kind: r.Kind, queue: r.Queue}
		if counts[key] == nil {
			counts[key] = map[string]int{}
		}
		counts[key][r.BacklogState]++
		if since, seen := oldest[key]; !seen || r.WaitingSince.Before(since) {
			oldest[key] = r.WaitingSince
		}
	}

	for key, states := range counts {
		for state, n := range states {
			emit(ch, backlogRunsDesc, prometheus.GaugeValue, float64(n), key.namespace, key.kind, key.queue, state)
		}
		emit(ch, backlogOldestWaitDesc, prometheus.GaugeValue, max(now.Sub(oldest[key]), 0).Seconds(), key.namespace, key.kind, key.queue)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
