package rules

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

const (
	minute = time.Minute
	hour   = time.Hour
)

// Alert names. Runbook anchors, promtool tests and Alertmanager routes refer
// to them, so a rename is a breaking change.
const (
	alertScheduleMissed        = "BatchScheduleMissed"
	alertScheduleSkipped       = "BatchScheduleSkipped"
	alertScheduleInvalid       = "BatchScheduleInvalid"
	alertScheduleSuspendedLong = "BatchScheduleSuspendedLong"
	alertWorkloadFailing       = "BatchWorkloadFailing"
	alertWorkloadNoSuccess     = "BatchWorkloadNoRecentSuccess"
	alertRunNearDeadline       = "BatchRunNearDeadline"
	alertRunPastDeadline       = "BatchRunPastDeadline"
	alertRetryBudgetLow        = "BatchRetryBudgetLow"
	alertBacklogStuck          = "BatchBacklogStuck"
	alertBatchwatchDown        = "BatchwatchDown"
	alertBatchwatchNotSynced   = "BatchwatchNotSynced"
)

// alertNames lists every alert of the pack once, in the order of the groups.
var alertNames = []string{
	alertScheduleMissed, alertScheduleSkipped, alertScheduleInvalid, alertScheduleSuspendedLong,
	alertWorkloadFailing, alertWorkloadNoSuccess,
	alertRunNearDeadline, alertRunPastDeadline, alertRetryBudgetLow,
	alertBacklogStuck,
	alertBatchwatchDown, alertBatchwatchNotSynced,
}

// Severities, the values of the severity label that Alertmanager routes on.
const (
	severityCritical = "critical"
	severityWarning  = "warning"
	severityInfo     = "info"
)

// ruleGroup and rule mirror the Prometheus rule file format. Fields are in
// the order Prometheus documents them, and YAML keeps that order.
type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// alert contains the parts an alert's author writes. alertRule adds the parts
// every alert shares: the `for` from Config, the severity and extra labels,
// and the runbook URL.
type alert struct {
	name     string
	severity string
	expr     string
	// summary is one static sentence.
	summary string
	// description is a Prometheus template that names the object, the
	// observed value, the threshold and what clears the alert.
	description string
}

// groups returns every rule group of the pack in file order.
func (c *Config) groups() []ruleGroup {
	return []ruleGroup{
		c.scheduleGroup(),
		c.workloadGroup(),
		c.runGroup(),
		c.backlogGroup(),
		c.batchwatchGroup(),
	}
}

func (c *Config) alertRule(a alert) rule {
	labels := maps.Clone(c.ExtraLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["severity"] = a.severity
	return rule{
		Alert:  a.name,
		Expr:   a.expr,
		For:    c.For[a.name].String(),
		Labels: labels,
		Annotations: map[string]string{
			"summary":     a.summary,
			"description": a.description,
			"runbook_url": c.runbookURL(a.name),
		},
	}
}

func (c *Config) runbookURL(alertName string) string {
	return c.RunbookURLBase + "#" + strings.ToLower(alertName)
}

// series returns a selector for a batchwatch metric: the configured target
// selector plus any further matchers.
func (c *Config) series(metric string, matchers ...string) string {
	all := append([]string{c.Selector}, matchers...)
	return metric + "{" + strings.Join(all, ", ") + "}"
}

// queryValue returns template text that queries metric for the alert's
// object, identified by the label names in identity, and prints the first
// result through format, a template pipeline stage such as
// "humanizeDuration". The text prints fallback when the query returns
// nothing.
func (c *Config) queryValue(metric string, identity []string, format, fallback string) string {
	matchers := make([]string, 0, len(identity))
	args := make([]string, 0, len(identity))
	for _, label := range identity {
		matchers = append(matchers, label+"=%q")
		args = append(args, "$labels."+label)
	}
	// A raw string keeps the double quotes of the selector unescaped.
	query := fmt.Sprintf("printf `%s` %s", c.series(metric, matchers...), strings.Join(args, " "))
	return "{{ with " + query + " | query }}{{ . | first | value | " + format + " }}{{ else }}" + fallback + "{{ end }}"
}

// suspendedSchedules selects the schedules that are suspended, for use after
// `unless on (namespace, kind, name)`. Alerts drop suspended schedules with
// `unless` instead of joining on suspended == 0, so a missing suspended
// series can never silence them.
func (c *Config) suspendedSchedules() string {
	return "(" + c.series("batchwatch_schedule_suspended") + " == 1)"
}

// suspendedWorkloads selects the suspended schedules under the label names
// of workload series: the workload of a scheduled run is its schedule, with
// the same kind and name.
func (c *Config) suspendedWorkloads() string {
	return `label_replace(` + c.suspendedSchedules() + `, "workload", "$1", "name", "(.*)")`
}

func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// formatPercent formats a ratio as a percentage for descriptions, for
// example 0.8 as "80%".
func formatPercent(ratio float64) string {
	return strconv.FormatFloat(ratio*100, 'g', 4, 64) + "%"
}

// seconds formats a duration as a PromQL number of seconds.
func seconds(d model.Duration) string {
	return strconv.FormatFloat(time.Duration(d).Seconds(), 'f', -1, 64)
}
