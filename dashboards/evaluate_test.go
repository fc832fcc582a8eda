package dashboards

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// fleetFixture is a scrape of a fleet with one problem of each kind, in
// promtool's series notation with one sample per minute from time 0. The
// series carry the scrape labels job and instance but no cluster label, as in
// a single-cluster Prometheus.
var fleetFixture = []string{
	// The nightly CronJob missed slots, its latest run failed and its active
	// run is close to its deadline and retry limit. The paused one is
	// suspended and the broken one cannot be parsed.
	`batchwatch_schedule_info{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly", schedule="0 2 * * *", timezone="UTC", concurrency_policy="Forbid"} 1+0x120`,
	`batchwatch_schedule_info{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="paused", schedule="@hourly", timezone="UTC", concurrency_policy="Allow"} 1+0x120`,
	`batchwatch_schedule_info{job="batchwatch", instance="bw:8080", namespace="team-b", kind="CronJob", name="broken", schedule="61 * * * *", timezone="UTC", concurrency_policy="Allow"} 1+0x120`,
	`batchwatch_schedule_suspended{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 0+0x120`,
	`batchwatch_schedule_suspended{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="paused"} 1+0x120`,
	`batchwatch_schedule_invalid{job="batchwatch", instance="bw:8080", namespace="team-b", kind="CronJob", name="broken", reason="invalid_schedule"} 1+0x120`,
	`batchwatch_schedule_last_scheduled_timestamp_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 1000+0x120`,
	`batchwatch_schedule_last_success_timestamp_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 900+0x120`,
	`batchwatch_schedule_next_timestamp_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 9000+0x120`,
	`batchwatch_schedule_interval_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 86400+0x120`,
	`batchwatch_schedule_missed_runs{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly", reason="not_started"} 2+0x120`,
	`batchwatch_schedule_missed_runs{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly", reason="concurrency_forbidden"} 1+0x120`,
	`batchwatch_schedule_overdue_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 600+0x120`,
	`batchwatch_schedule_skipped_runs_total{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly", reason="not_started"} 0+1x120`,
	`batchwatch_schedule_active_runs{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 1+0x120`,

	`batchwatch_workload_last_run_failed{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", workload="nightly"} 1+0x120`,
	`batchwatch_workload_consecutive_failures{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", workload="nightly"} 3+0x120`,

	`batchwatch_run_elapsed_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", name="nightly-1", workload="nightly"} 3000+0x120`,
	`batchwatch_run_deadline_utilization_ratio{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", name="nightly-1", workload="nightly"} 0.9+0x120`,
	`batchwatch_run_retries{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", name="nightly-1", workload="nightly"} 5+0x120`,
	`batchwatch_run_retry_limit{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", name="nightly-1", workload="nightly"} 6+0x120`,
	// The recording rules keep every label of their operands.
	`namespace_kind_name:batchwatch_schedule_last_success_timestamp_seconds:time_since{job="batchwatch", instance="bw:8080", namespace="team-a", kind="CronJob", name="nightly"} 6300+0x120`,
	`namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", name="nightly-1", workload="nightly"} 0.83+0x120`,

	`batchwatch_runs_finished_total{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", outcome="failed", reason="BackoffLimitExceeded"} 0+1x120`,
	`batchwatch_run_duration_seconds_bucket{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", outcome="failed", le="60"} 0+0x120`,
	`batchwatch_run_duration_seconds_bucket{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", outcome="failed", le="300"} 0+1x120`,
	`batchwatch_run_duration_seconds_bucket{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", outcome="failed", le="+Inf"} 0+1x120`,
	`batchwatch_run_duration_seconds_sum{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", outcome="failed"} 0+200x120`,
	`batchwatch_run_duration_seconds_count{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", outcome="failed"} 0+1x120`,
	`batchwatch_pod_failures_total{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", workload="nightly", reason="OOMKilled", exit_code="137"} 0+1x120`,

	`batchwatch_backlog_runs{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", queue="batch", state="queued"} 2+0x120`,
	`batchwatch_backlog_runs{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", queue="batch", state="pending"} 1+0x120`,
	`batchwatch_backlog_oldest_wait_seconds{job="batchwatch", instance="bw:8080", namespace="team-a", kind="Job", queue="batch"} 4000+0x120`,

	`up{job="batchwatch", instance="bw:8080"} 1+0x120`,
	`batchwatch_informer_synced{job="batchwatch", instance="bw:8080", resource="jobs"} 1+0x120`,
	`batchwatch_informer_synced{job="batchwatch", instance="bw:8080", resource="workflows"} 0+0x120`,
	`batchwatch_collector_success{job="batchwatch", instance="bw:8080", collector="job"} 1+0x120`,
	`batchwatch_scrape_duration_seconds{job="batchwatch", instance="bw:8080", collector="job"} 0.05+0x120`,
}

// evaluationTime is the end of the fixture, where the panels are evaluated.
var evaluationTime = time.Unix(120*60, 0)

func TestPanelsShowFleetProblems(t *testing.T) {
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	fleet := loadFixture(t, fleetFixture)

	// Stat panels and the value each shows for the fixture, by title.
	wantStats := map[string]float64{
		"Failing workloads":        1,
		"Missed slots":             2,
		"Slots skipped by Forbid":  1,
		"Slots lost in range":      60,
		"Invalid schedules":        1,
		"Most overdue schedule":    600,
		"Active runs":              1,
		"Runs near their deadline": 1,
		"Runs at their deadline":   0,
		"Runs low on retries":      1,
		"Runs waiting to start":    3,
		"Queued runs":              2,
		"Pending runs":             1,
		"Oldest wait":              4000,
		"Exporter targets up":      1,
		"Informers not synced":     1,
		"Collectors failing":       0,
		"Schedules":                3,
		"Suspended schedules":      1,
		"Overdue schedules":        1,
	}

	stats := 0
	for _, b := range renderBoards(t, *DefaultConfig()) {
		values := b.board.defaultValues()
		for _, p := range b.panels {
			for _, target := range p.Targets {
				expr, err := expandVariables(target.Expr, values)
				if err != nil {
					t.Fatal(err)
				}
				where := b.name + ", panel " + p.Title + ", query " + target.RefID
				result := evaluate(t, engine, fleet, expr)
				if len(result) == 0 {
					t.Errorf("%s: no result for a fleet with every kind of problem: %s", where, expr)
					continue
				}

				if p.Type != "stat" {
					continue
				}
				want, ok := wantStats[p.Title]
				if !ok {
					t.Errorf("%s: no expected value for this stat panel", where)
					continue
				}
				stats++
				if len(result) != 1 || result[0].F != want {
					t.Errorf("%s = %v, want %v", where, result, want)
				}
			}
		}
	}
	if stats == 0 {
		t.Error("no stat panel evaluated")
	}
}

func TestClusterVariableFiltersClusters(t *testing.T) {
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	fleet := loadFixture(t, []string{
		`batchwatch_workload_last_run_failed{job="batchwatch", cluster="prod", namespace="a", kind="CronJob", workload="x"} 1+0x120`,
		`batchwatch_workload_last_run_failed{job="batchwatch", cluster="dev", namespace="a", kind="CronJob", workload="x"} 1+0x120`,
		`batchwatch_workload_last_run_failed{job="batchwatch", cluster="dev", namespace="a", kind="CronJob", workload="y"} 1+0x120`,
	})
	s := newSelectors(*DefaultConfig())
	expr := "count(" + s.workload("batchwatch_workload_last_run_failed") + " == 1)"

	for cluster, want := range map[string]float64{".*": 3, "prod": 1, "(prod|dev)": 3} {
		expanded, err := expandVariables(expr, map[string]string{"cluster": cluster, "namespace": ".*", "kind": ".*", "workload": ".*"})
		if err != nil {
			t.Fatal(err)
		}
		result := evaluate(t, engine, fleet, expanded)
		if len(result) != 1 || result[0].F != want {
			t.Errorf("cluster %q: failing workloads = %v, want %v", cluster, result, want)
		}
	}
}

// evaluate runs expr as an instant query at evaluationTime.
func evaluate(t *testing.T, engine *promql.Engine, fleet storage.Queryable, expr string) promql.Vector {
	t.Helper()
	query, err := engine.NewInstantQuery(context.Background(), fleet, nil, expr, evaluationTime)
	if err != nil {
		t.Fatalf("prepare %s: %v", expr, err)
	}
	defer query.Close()
	result := query.Exec(context.Background())
	if result.Err != nil {
		t.Fatalf("evaluate %s: %v", expr, result.Err)
	}
	vector, err := result.Vector()
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return vector
}

// loadFixture parses series in promtool's notation into a queryable store
// with one sample per minute from time 0.
func loadFixture(t *testing.T, lines []string) storage.Queryable {
	t.Helper()
	var series []storage.Series
	for _, line := range lines {
		lset, values, err := promqlParser.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("parse fixture %q: %v", line, err)
		}
		samples := make([]chunks.Sample, 0, len(values))
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, floatSample{t: int64(i) * time.Minute.Milliseconds(), f: v.Value})
			}
		}
		series = append(series, storage.NewListSeries(lset, samples))
	}
	slices.SortFunc(series, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })

	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
			var matched []storage.Series
			for _, s := range series {
				if matchesAll(s.Labels(), matchers) {
					matched = append(matched, s)
				}
			}
			return &seriesList{series: matched, index: -1}
		},
	}}
}

func matchesAll(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// seriesList is a storage.SeriesSet over series sorted by labels.
type seriesList struct {
	series []storage.Series
	index  int
}

func (l *seriesList) Next() bool                        { l.index++; return l.index < len(l.series) }
func (l *seriesList) At() storage.Series                { return l.series[l.index] }
func (l *seriesList) Err() error                        { return nil }
func (l *seriesList) Warnings() annotations.Annotations { return nil }

// floatSample is a float sample of the fixture.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }
