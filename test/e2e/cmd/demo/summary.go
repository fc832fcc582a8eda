//go:build e2e

package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	// The demo shows each schedule's slots in its own time zone, which must
	// work even where the system has no zone database.
	_ "time/tzdata"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// seriesQuery selects, in one request, every series the summary shows.
const seriesQuery = `{job="batchwatch", __name__=~"up|batchwatch_(` +
	`schedule_(info|last_scheduled_timestamp_seconds|next_timestamp_seconds|missed_runs|skipped_runs_total|active_runs)` +
	`|workload_(last_run_failed|consecutive_failures)` +
	`|run_(elapsed_seconds|deadline_utilization_ratio|retries|retry_limit)` +
	`|backlog_(runs|oldest_wait_seconds)` +
	`|pod_failures_total)"}`

// summary is what Prometheus returned at one refresh.
type summary struct {
	at        time.Time
	series    map[string][]sample
	seriesErr error
	alerts    []alert
	alertsErr error
}

func (d *demo) collect(ctx context.Context, api *prometheusAPI) summary {
	s := summary{at: time.Now(), series: map[string][]sample{}}
	samples, err := api.query(ctx, seriesQuery)
	s.seriesErr = err
	for _, sample := range samples {
		name := sample.Labels["__name__"]
		s.series[name] = append(s.series[name], sample)
	}
	s.alerts, s.alertsErr = api.alerts(ctx)
	return s
}

// writeLinks writes the URLs and the kubectl command a user can try while the
// demo runs, and the settings in which the demo differs from the defaults.
func (d *demo) writeLinks(w io.Writer) {
	prometheus := d.prometheus.URL()
	kubectl, err := cluster.BinaryPath("kubectl")
	if err != nil {
		kubectl = "kubectl"
	} else if wd, err := filepath.Abs("."); err == nil {
		if rel, err := filepath.Rel(wd, kubectl); err == nil && !strings.HasPrefix(rel, "..") {
			kubectl = rel
		}
	}

	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(t, "batchwatch\t%s/metrics\n", d.batchwatch.URL())
	fmt.Fprintf(t, "Prometheus\t%s/api/v1/alerts\n", prometheus)
	fmt.Fprintf(t, "\t%s/api/v1/query?query=batchwatch_backlog_runs\n", prometheus)
	fmt.Fprintf(t, "kubectl\t%s --kubeconfig %s get jobs -n %s\n", kubectl, d.cluster.Kubeconfig(), demoNamespace)
	fmt.Fprintf(t, "log\t%s\n", d.batchwatch.LogPath())
	fmt.Fprintf(t, "demo only\tbatchwatch --schedule-grace=%s instead of 5m; alert 'for' durations\n", scheduleGrace)
	fmt.Fprintf(t, "\tof at most %s instead of 5m or 15m; BatchBacklogStuck after %s, not 1h\n",
		formatAge(demoFor), formatAge(demoBacklogMaxWait))
	fmt.Fprintf(t, "samples\texamples/README.md says what each workload shows, and when\n")
	t.Flush()
}

// writeSummary writes one refresh of the live summary.
func (d *demo) writeSummary(w io.Writer, s summary, duration time.Duration) {
	stop := "Ctrl-C stops the demo"
	if duration > 0 {
		remaining := max(duration-s.at.Sub(d.applied), 0)
		stop = fmt.Sprintf("stops in %s (--duration)", formatAge(remaining))
	}
	fmt.Fprintf(w, "batchwatch demo at %s: workloads applied %s ago; %s\n",
		s.at.Format("15:04:05"), formatAge(s.at.Sub(d.applied)), stop)

	switch up := s.series["up"]; {
	case s.seriesErr != nil:
		fmt.Fprintf(w, "\nPrometheus query failed: %v\n", s.seriesErr)
		return
	case len(up) == 0:
		fmt.Fprintf(w, "\nWaiting for Prometheus to scrape batchwatch; it scrapes every %s.\n", formatAge(interval))
		return
	case up[0].Value != 1:
		fmt.Fprintf(w, "\nPrometheus cannot scrape batchwatch (up is 0); see the batchwatch log %s.\n", d.batchwatch.LogPath())
	}

	writeSchedules(w, s)
	writeWorkloads(w, s)
	writeActiveRuns(w, s)
	writeBacklog(w, s)
	writePodFailures(w, s)
	writeAlerts(w, s)
}

func writeSchedules(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nSCHEDULES: a slot is missed when its grace passes without a run\n")
	infos := sortedSamples(s.series["batchwatch_schedule_info"], "namespace", "name")
	if len(infos) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	last := byKey(s.series["batchwatch_schedule_last_scheduled_timestamp_seconds"], "namespace", "kind", "name")
	next := byKey(s.series["batchwatch_schedule_next_timestamp_seconds"], "namespace", "kind", "name")
	active := byKey(s.series["batchwatch_schedule_active_runs"], "namespace", "kind", "name")
	missed := byKey(s.series["batchwatch_schedule_missed_runs"], "namespace", "kind", "name")
	skipped := byKey(s.series["batchwatch_schedule_skipped_runs_total"], "namespace", "kind", "name")

	for _, info := range infos {
		key := seriesKey(info.Labels, "namespace", "kind", "name")
		zone, err := time.LoadLocation(info.Labels["timezone"])
		if err != nil {
			zone = time.UTC
		}
		fmt.Fprintf(w, "  %s %s: %q in %s, concurrencyPolicy %s\n",
			info.Labels["kind"], displayName(info.Labels["namespace"], info.Labels["name"]),
			info.Labels["schedule"], info.Labels["timezone"], info.Labels["concurrency_policy"])
		fmt.Fprintf(w, "    last slot %s, next slot %s\n",
			formatSlot(last[key], zone, s.at, "none yet"), formatSlot(next[key], zone, s.at, "none (suspended)"))
		fmt.Fprintf(w, "    active runs %s, missed now %s, skipped so far %s\n",
			formatFirstValue(active[key]), formatByReason(missed[key]), formatByReason(skipped[key]))
	}
}

func writeWorkloads(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nWORKLOADS: the latest finished run of each CronJob or standalone Job\n")
	failed := sortedSamples(s.series["batchwatch_workload_last_run_failed"], "namespace", "workload")
	if len(failed) == 0 {
		fmt.Fprintln(w, "  no run has finished yet")
		return
	}
	streaks := byKey(s.series["batchwatch_workload_consecutive_failures"], "namespace", "kind", "workload")

	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "  KIND\tWORKLOAD\tLATEST RUN\tFAILED RUNS IN A ROW")
	for _, sample := range failed {
		outcome := "succeeded"
		if sample.Value == 1 {
			outcome = "failed"
		}
		key := seriesKey(sample.Labels, "namespace", "kind", "workload")
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\n", sample.Labels["kind"], displayName(sample.Labels["namespace"], sample.Labels["workload"]),
			outcome, formatFirstValue(streaks[key]))
	}
	t.Flush()
}

func writeActiveRuns(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nACTIVE RUNS: deadline used is elapsed time / activeDeadlineSeconds\n")
	elapsed := sortedSamples(s.series["batchwatch_run_elapsed_seconds"], "namespace", "name")
	if len(elapsed) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	labels := []string{"namespace", "kind", "name"}
	ratios := byKey(s.series["batchwatch_run_deadline_utilization_ratio"], labels...)
	retries := byKey(s.series["batchwatch_run_retries"], labels...)
	limits := byKey(s.series["batchwatch_run_retry_limit"], labels...)

	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "  KIND\tRUN\tWORKLOAD\tELAPSED\tDEADLINE USED\tRETRIES/LIMIT")
	for _, sample := range elapsed {
		key := seriesKey(sample.Labels, labels...)
		seconds := sample.Value
		deadline := "no deadline"
		if r := ratios[key]; len(r) > 0 && r[0].Value > 0 {
			total := time.Duration(math.Round(seconds/r[0].Value)) * time.Second
			deadline = fmt.Sprintf("%.0f%% of %s", 100*r[0].Value, formatAge(total))
		}
		used := formatFirstValue(retries[key])
		if limit := limits[key]; len(limit) > 0 {
			used += "/" + formatFirstValue(limit)
		}
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%s\n", sample.Labels["kind"], displayName(sample.Labels["namespace"], sample.Labels["name"]),
			sample.Labels["workload"], formatAge(time.Duration(seconds)*time.Second), deadline, used)
	}
	t.Flush()
}

func writeBacklog(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nBACKLOG: runs waiting to start (suspended, Kueue-queued or unscheduled)\n")
	var runs []sample
	for _, sample := range sortedSamples(s.series["batchwatch_backlog_runs"], "namespace", "queue", "state") {
		if sample.Value > 0 {
			runs = append(runs, sample)
		}
	}
	if len(runs) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	waits := byKey(s.series["batchwatch_backlog_oldest_wait_seconds"], "namespace", "kind", "queue")

	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "  KIND\tNAMESPACE\tQUEUE\tSTATE\tRUNS\tOLDEST WAIT")
	for _, sample := range runs {
		queue := cmp.Or(sample.Labels["queue"], "(none)")
		wait := "unknown"
		if oldest := waits[seriesKey(sample.Labels, "namespace", "kind", "queue")]; len(oldest) > 0 {
			wait = formatAge(time.Duration(oldest[0].Value) * time.Second)
		}
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%s\n", sample.Labels["kind"], sample.Labels["namespace"], queue,
			sample.Labels["state"], formatValue(sample.Value), wait)
	}
	t.Flush()
}

func writePodFailures(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nPOD FAILURES: failed pods and container restarts since batchwatch started\n")
	failures := sortedSamples(s.series["batchwatch_pod_failures_total"], "namespace", "workload", "reason", "exit_code")
	if len(failures) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "  KIND\tWORKLOAD\tREASON\tEXIT CODE\tCOUNT")
	for _, sample := range failures {
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\n", sample.Labels["kind"], displayName(sample.Labels["namespace"], sample.Labels["workload"]),
			sample.Labels["reason"], cmp.Or(sample.Labels["exit_code"], "-"), formatValue(sample.Value))
	}
	t.Flush()
}

func writeAlerts(w io.Writer, s summary) {
	if s.alertsErr != nil {
		fmt.Fprintf(w, "\nALERTS: Prometheus request failed: %v\n", s.alertsErr)
		return
	}
	alerts := slices.Clone(s.alerts)
	slices.SortFunc(alerts, func(a, b alert) int {
		// Alphabetical order puts firing before pending.
		return cmp.Or(
			cmp.Compare(a.State, b.State),
			cmp.Compare(a.Labels["alertname"], b.Labels["alertname"]),
			cmp.Compare(formatLabels(a.Labels), formatLabels(b.Labels)),
		)
	})
	firing := 0
	for _, a := range alerts {
		if a.State == "firing" {
			firing++
		}
	}
	fmt.Fprintf(w, "\nALERTS: %d firing, %d pending (pending until the condition has held for 'for')\n", firing, len(alerts)-firing)
	if len(alerts) == 0 {
		return
	}

	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "  STATE\tALERT\tSEVERITY\tACTIVE FOR\tLABELS")
	for _, a := range alerts {
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\n", a.State, a.Labels["alertname"], a.Labels["severity"],
			formatAge(s.at.Sub(a.ActiveAt)), formatLabels(a.Labels))
	}
	t.Flush()
}

// formatLabels formats the labels of an alert as name=value pairs sorted by
// name. It leaves out the alert name and severity, which have their own
// columns, and job and instance, which are the same for every alert.
func formatLabels(labels map[string]string) string {
	var pairs []string
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		switch name {
		case "alertname", "severity", "job", "instance":
			continue
		}
		pairs = append(pairs, name+"="+labels[name])
	}
	return strings.Join(pairs, " ")
}

// seriesKey joins the values of the given labels into a map key.
func seriesKey(labels map[string]string, names ...string) string {
	values := make([]string, len(names))
	for i, name := range names {
		values[i] = labels[name]
	}
	return strings.Join(values, "\x00")
}

// byKey groups samples by the values of the given labels.
func byKey(samples []sample, names ...string) map[string][]sample {
	grouped := map[string][]sample{}
	for _, s := range samples {
		key := seriesKey(s.Labels, names...)
		grouped[key] = append(grouped[key], s)
	}
	return grouped
}

// sortedSamples returns a copy of samples sorted by the values of the given
// labels.
func sortedSamples(samples []sample, names ...string) []sample {
	sorted := slices.Clone(samples)
	slices.SortFunc(sorted, func(a, b sample) int {
		return cmp.Compare(seriesKey(a.Labels, names...), seriesKey(b.Labels, names...))
	})
	return sorted
}

// displayName leaves out the namespace of the sample workloads.
func displayName(namespace, name string) string {
	if namespace == demoNamespace {
		return name
	}
	return namespace + "/" + name
}

// formatSlot formats a Unix time in the schedule's zone with its distance from
// now. It returns absent when there is no sample.
func formatSlot(samples []sample, zone *time.Location, now time.Time, absent string) string {
	if len(samples) == 0 {
		return absent
	}
	t := time.Unix(int64(samples[0].Value), 0).In(zone)
	text := t.Format("Mon 15:04 MST")
	if t.After(now) {
		return text + " (in " + formatAge(t.Sub(now)) + ")"
	}
	return text + " (" + formatAge(now.Sub(t)) + " ago)"
}

// formatByReason formats the non-zero values of samples with their reason
// label, or returns 0 when there are none.
func formatByReason(samples []sample) string {
	var parts []string
	for _, s := range sortedSamples(samples, "reason") {
		if s.Value != 0 {
			parts = append(parts, formatValue(s.Value)+" "+s.Labels["reason"])
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func formatFirstValue(samples []sample) string {
	if len(samples) == 0 {
		return "-"
	}
	return formatValue(samples[0].Value)
}

func formatValue(v float64) string {
	return fmt.Sprintf("%g", v)
}

// formatAge formats a duration rounded to seconds, with at most two units:
// 45s, 2m, 3m5s, 6h27m, 2d3h. A negative duration becomes 0s.
func formatAge(d time.Duration) string {
	d = max(d.Round(time.Second), 0)
	var major, minor int
	var majorUnit, minorUnit string
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		major, majorUnit, minor, minorUnit = int(d.Minutes()), "m", int(d.Seconds())%60, "s"
	case d < 24*time.Hour:
		major, majorUnit, minor, minorUnit = int(d.Hours()), "h", int(d.Minutes())%60, "m"
	default:
		major, majorUnit, minor, minorUnit = int(d.Hours())/24, "d", int(d.Hours())%24, "h"
	}
	if minor == 0 {
		return fmt.Sprintf("%d%s", major, majorUnit)
	}
	return fmt.Sprintf("%d%s%d%s", major, majorUnit, minor, minorUnit)
}
