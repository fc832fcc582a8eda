package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/batchwatch/batchwatch/collector"
)

// Paths of the committed files, relative to this package's folder, where go
// test runs.
const (
	committedRuleFile       = "../" + RuleFilePath
	committedPrometheusRule = "../" + PrometheusRulePath
	runbookPath             = "../docs/runbooks.md"
	promtoolTestGlob        = "../promtool-tests/*-test.yaml"
)

const defaultRunbookBase = "https://github.com/batchwatch/batchwatch/blob/main/docs/runbooks.md"

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return content
}

// parseRuleFile parses a plain rule file into the generator's own types.
func parseRuleFile(t *testing.T, content []byte) []ruleGroup {
	t.Helper()
	var file struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	if err := yaml.Unmarshal(content, &file); err != nil {
		t.Fatalf("parse rule file: %v", err)
	}
	return file.Groups
}

func alertsOf(groups []ruleGroup) []rule {
	var alerts []rule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r)
			}
		}
	}
	return alerts
}

func generateDefault(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := Files(*DefaultConfig())
	if err != nil {
		t.Fatalf("Files(DefaultConfig()): %v", err)
	}
	return files
}

func TestCommittedFilesUpToDate(t *testing.T) {
	files := generateDefault(t)
	for path, want := range files {
		got := readFile(t, filepath.Join("..", path))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the output of Files(DefaultConfig()); run 'go run ./cmd/batchwatch generate'", path)
		}
	}
	if len(files) != 2 {
		t.Errorf("Files returned %d files, want the rule file and the PrometheusRule", len(files))
	}
}

func TestGeneratedFilesStartWithHeader(t *testing.T) {
	for path, content := range generateDefault(t) {
		if !bytes.HasPrefix(content, []byte(generatedHeader)) {
			t.Errorf("%s does not start with %q", path, generatedHeader)
		}
	}
}

func TestCommittedRuleFileValidates(t *testing.T) {
	if err := Validate(readFile(t, committedRuleFile)); err != nil {
		t.Errorf("Validate(%s): %v", committedRuleFile, err)
	}
}

func TestValidateRejectsBrokenRules(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{
			name:    "unknown metric",
			content: "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: batchwatch_schedule_missed_slots > 0\n",
			want:    "unknown metric batchwatch_schedule_missed_slots",
		},
		{
			name:    "unknown histogram series",
			content: "groups:\n- name: g\n  rules:\n  - record: r\n    expr: batchwatch_run_durations_bucket\n",
			want:    "unknown metric batchwatch_run_durations_bucket",
		},
		{
			name:    "selector without metric name",
			content: "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: '{job=\"batchwatch\"} > 0'\n",
			want:    "has no metric name",
		},
		{
			name:    "invalid PromQL",
			content: "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(batchwatch_runs_finished_total[5m]\n",
			want:    "unclosed left parenthesis",
		},
		{
			name:    "invalid annotation template",
			content: "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    annotations:\n      description: '{{ $labels.name '\n",
			want:    "annotation \"description\"",
		},
		{
			name:    "unknown rule field",
			content: "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    severity: warning\n",
			want:    "field severity not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.content))
			if err == nil {
				t.Fatalf("Validate returned nil, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateAcceptsHistogramSeries(t *testing.T) {
	content := "groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(batchwatch_run_duration_seconds_bucket) + sum(batchwatch_run_duration_seconds_sum) + sum(batchwatch_run_duration_seconds_count)\n"
	if err := Validate([]byte(content)); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestExpressionsSelectKnownMetrics(t *testing.T) {
	groups := parseRuleFile(t, readFile(t, committedRuleFile))
	known := map[string]bool{"up": true}
	for _, name := range collector.MetricNames() {
		known[name] = true
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}

	p := newParser()
	for _, g := range groups {
		for _, r := range g.Rules {
			names, err := selectedMetrics(p, r.Expr)
			if err != nil {
				t.Errorf("rule %s%s: %v", r.Alert, r.Record, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("rule %s%s selects no metric", r.Alert, r.Record)
			}
			for _, name := range names {
				if !known[name] && !known[histogramBase(name)] {
					t.Errorf("rule %s%s selects %s, which batchwatch does not export and no rule records", r.Alert, r.Record, name)
				}
			}
		}
	}
}

func TestSelectorsUseTheJobSelector(t *testing.T) {
	recorded := map[string]bool{}
	groups := parseRuleFile(t, readFile(t, committedRuleFile))
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	// Every selector of an exported metric or of up carries the job matcher;
	// recording rules keep the job label of their input.
	// A name preceded by a colon is part of a recording rule name.
	selector := regexp.MustCompile(`(?:^|[^:\w])(batchwatch_[a-z_]+|up)\b(\{[^}]*\})?`)
	for _, g := range groups {
		for _, r := range g.Rules {
			matches := selector.FindAllStringSubmatch(r.Expr, -1)
			for _, m := range matches {
				if !strings.Contains(m[2], `job="batchwatch"`) {
					t.Errorf("rule %s%s selects %s without job=\"batchwatch\"", r.Alert, r.Record, strings.TrimSpace(m[0]))
				}
			}
			if len(matches) == 0 && !usesRecordedOnly(r.Expr, recorded) {
				t.Errorf("rule %s%s selects no batchwatch metric or recording rule", r.Alert, r.Record)
			}
		}
	}
}

// usesRecordedOnly reports whether expr selects a recording rule of the pack.
func usesRecordedOnly(expr string, recorded map[string]bool) bool {
	for name := range recorded {
		if strings.Contains(expr, name) {
			return true
		}
	}
	return false
}

func TestAlertsFollowTheAnnotationContract(t *testing.T) {
	alerts := alertsOf(parseRuleFile(t, readFile(t, committedRuleFile)))
	if len(alerts) == 0 {
		t.Fatal("the rule file has no alerts")
	}

	// These alerts report a state that is on or off, not a measured value.
	// Their descriptions name the state: the invalid reason, up is 0, or the
	// resource that is not synced.
	stateAlerts := map[string]bool{alertScheduleInvalid: true, alertBatchwatchDown: true, alertBatchwatchNotSynced: true}
	severities := []string{severityCritical, severityWarning, severityInfo}

	for _, a := range alerts {
		t.Run(a.Alert+"/"+a.Labels["severity"], func(t *testing.T) {
			if !slices.Contains(severities, a.Labels["severity"]) {
				t.Errorf("severity = %q, want one of %v", a.Labels["severity"], severities)
			}

			d, err := model.ParseDuration(a.For)
			if err != nil {
				t.Errorf("for = %q: %v", a.For, err)
			} else if time.Duration(d) < 5*time.Minute {
				t.Errorf("for = %s, want at least 5m", a.For)
			}

			summary := a.Annotations["summary"]
			if strings.Contains(summary, "{{") {
				t.Errorf("summary %q is a template, want static text", summary)
			}
			if !strings.HasSuffix(summary, ".") || strings.Count(summary, ". ") > 0 {
				t.Errorf("summary %q is not one sentence ending in a period", summary)
			}
			if len(summary) > 80 {
				t.Errorf("summary %q has %d characters, want at most 80", summary, len(summary))
			}

			description := a.Annotations["description"]
			if !strings.Contains(description, "$labels.") {
				t.Errorf("description %q does not name the object through $labels", description)
			}
			if !stateAlerts[a.Alert] && !strings.Contains(description, "$value") && !strings.Contains(description, "| query") {
				t.Errorf("description %q shows no observed value", description)
			}
			if !strings.Contains(description, "Threshold: ") {
				t.Errorf("description %q does not state the threshold", description)
			}
			if !strings.Contains(description, "It resolves when ") {
				t.Errorf("description %q does not say what clears the alert", description)
			}

			want := defaultRunbookBase + "#" + strings.ToLower(a.Alert)
			if got := a.Annotations["runbook_url"]; got != want {
				t.Errorf("runbook_url = %q, want %q", got, want)
			}
			if len(a.Annotations) != 3 {
				t.Errorf("annotations = %v, want summary, description and runbook_url only", a.Annotations)
			}
		})
	}
}

func TestDescriptionsUseHumanizeForDurationsAndRatios(t *testing.T) {
	alerts := alertsOf(parseRuleFile(t, readFile(t, committedRuleFile)))
	for _, a := range alerts {
		description := a.Annotations["description"]
		switch {
		case strings.Contains(a.Expr, "_seconds") && strings.Contains(description, "$value") &&
			!strings.Contains(description, "$value | humanizeDuration"):
			t.Errorf("%s: description prints a duration $value without humanizeDuration", a.Alert)
		case strings.Contains(a.Expr, "ratio") && !strings.Contains(description, "$value | humanizePercentage"):
			t.Errorf("%s: description prints a ratio $value without humanizePercentage", a.Alert)
		}
	}
}

// runbookSections returns the level-two headings of the runbook document,
// mapped to the level-three headings under each.
func runbookSections(t *testing.T) map[string][]string {
	t.Helper()
	sections := map[string][]string{}
	current := ""
	for _, line := range strings.Split(string(readFile(t, runbookPath)), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			current = strings.TrimSpace(strings.TrimPrefix(line, "## "))
			sections[current] = nil
		case strings.HasPrefix(line, "### ") && current != "":
			sections[current] = append(sections[current], strings.TrimSpace(strings.TrimPrefix(line, "### ")))
		}
	}
	return sections
}

func TestRunbookHasASectionPerAlert(t *testing.T) {
	sections := runbookSections(t)
	anchors := map[string]bool{}
	for heading := range sections {
		// GitHub derives the anchor of a one-word heading by lower-casing it.
		anchors[strings.ToLower(heading)] = true
	}

	for _, name := range alertNames {
		anchor := strings.ToLower(name)
		if !anchors[anchor] {
			t.Errorf("%s has no section with anchor #%s", runbookPath, anchor)
			continue
		}
		if got, want := sections[name], []string{"Meaning", "Impact", "Diagnosis", "Mitigation"}; !slices.Equal(got, want) {
			t.Errorf("section %s has subsections %v, want %v", name, got, want)
		}
	}

	for _, a := range alertsOf(parseRuleFile(t, readFile(t, committedRuleFile))) {
		anchor := strings.TrimPrefix(a.Annotations["runbook_url"], defaultRunbookBase+"#")
		if !anchors[anchor] {
			t.Errorf("%s links to #%s, which %s does not have", a.Alert, anchor, runbookPath)
		}
	}
}

// promtoolTest mirrors the parts of a promtool unit test file that the
// coverage checks read.
type promtoolTest struct {
	RuleFiles []string `yaml:"rule_files"`
	Interval  string   `yaml:"evaluation_interval"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromqlExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func readPromtoolTests(t *testing.T) map[string]promtoolTest {
	t.Helper()
	paths, err := filepath.Glob(promtoolTestGlob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no promtool test files match %s (err: %v)", promtoolTestGlob, err)
	}
	files := map[string]promtoolTest{}
	for _, path := range paths {
		var f promtoolTest
		if err := yaml.Unmarshal(readFile(t, path), &f); err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		files[filepath.Base(path)] = f
	}
	return files
}

func TestPromtoolTestFilePerGroup(t *testing.T) {
	files := readPromtoolTests(t)
	for _, g := range parseRuleFile(t, readFile(t, committedRuleFile)) {
		f, ok := files[g.Name+"-test.yaml"]
		if !ok {
			t.Errorf("group %s has no promtool-tests/%s-test.yaml", g.Name, g.Name)
			continue
		}
		if !slices.Equal(f.RuleFiles, []string{"../" + RuleFilePath}) {
			t.Errorf("%s-test.yaml rule_files = %v, want [../%s]", g.Name, f.RuleFiles, RuleFilePath)
		}
		if f.Interval != "1m" {
			t.Errorf("%s-test.yaml evaluation_interval = %q, want 1m", g.Name, f.Interval)
		}
	}
}

// TestEveryAlertHasPromtoolCases checks that each alert has at least two
// cases that expect no alert (a quiet one and one just before `for` ends),
// and at each severity a firing case that lists every annotation with the
// full runbook URL.
func TestEveryAlertHasPromtoolCases(t *testing.T) {
	type key struct{ alert, severity string }
	quiet := map[string]int{}
	firing := map[key]bool{}
	for path, f := range readPromtoolTests(t) {
		for _, test := range f.Tests {
			for _, c := range test.AlertRuleTest {
				if len(c.ExpAlerts) == 0 {
					quiet[c.Alertname]++
				}
				for _, exp := range c.ExpAlerts {
					ann := exp.ExpAnnotations
					if ann["summary"] == "" || ann["description"] == "" || ann["runbook_url"] != defaultRunbookBase+"#"+strings.ToLower(c.Alertname) {
						t.Errorf("%s: %q expects %s without every annotation and the full runbook_url", path, test.Name, c.Alertname)
					}
					if exp.ExpLabels["job"] != "batchwatch" {
						t.Errorf("%s: %q expects %s without job=\"batchwatch\"", path, test.Name, c.Alertname)
					}
					firing[key{c.Alertname, exp.ExpLabels["severity"]}] = true
				}
			}
		}
	}

	for _, a := range alertsOf(parseRuleFile(t, readFile(t, committedRuleFile))) {
		if quiet[a.Alert] < 2 {
			t.Errorf("%s has %d promtool cases that expect no alert, want a quiet one and a pending one", a.Alert, quiet[a.Alert])
		}
		if !firing[key{a.Alert, a.Labels["severity"]}] {
			t.Errorf("%s at severity %s has no promtool case that expects it to fire", a.Alert, a.Labels["severity"])
		}
	}
}

func TestEveryRecordingRuleHasPromtoolCase(t *testing.T) {
	tested := map[string]bool{}
	for _, f := range readPromtoolTests(t) {
		for _, test := range f.Tests {
			for _, c := range test.PromqlExprTest {
				tested[strings.TrimSpace(c.Expr)] = true
			}
		}
	}
	for _, g := range parseRuleFile(t, readFile(t, committedRuleFile)) {
		for _, r := range g.Rules {
			if r.Record != "" && !tested[r.Record] {
				t.Errorf("recording rule %s has no promql_expr_test", r.Record)
			}
		}
	}
}

func TestPrometheusRuleWrapsTheSameGroups(t *testing.T) {
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
		Spec struct {
			Groups []ruleGroup `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, committedPrometheusRule), &pr); err != nil {
		t.Fatalf("parse %s: %v", committedPrometheusRule, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("apiVersion, kind = %s, %s, want monitoring.coreos.com/v1, PrometheusRule", pr.APIVersion, pr.Kind)
	}
	if pr.Metadata.Namespace != "batchwatch" || pr.Metadata.Name != "batchwatch" {
		t.Errorf("metadata = %s/%s, want batchwatch/batchwatch", pr.Metadata.Namespace, pr.Metadata.Name)
	}

	plain := parseRuleFile(t, readFile(t, committedRuleFile))
	wrapped, err := yaml.Marshal(pr.Spec.Groups)
	if err != nil {
		t.Fatal(err)
	}
	want, err := yaml.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wrapped, want) {
		t.Errorf("spec.groups of %s differ from the groups of %s", committedPrometheusRule, committedRuleFile)
	}
}

// parseFlags registers the generator flags on a new command and parses args
// after the command name.
func parseFlags(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	app := kingpin.New("batchwatch", "")
	app.Terminate(nil)
	app.UsageWriter(&bytes.Buffer{})
	app.ErrorWriter(&bytes.Buffer{})
	cmd := app.Command("generate", "")
	cfg := DefaultConfig()
	cfg.AddFlags(cmd)
	_, err := app.Parse(append([]string{"generate"}, args...))
	return cfg, err
}

func TestFlagDefaultsMatchDefaultConfig(t *testing.T) {
	cfg, err := parseFlags(t)
	if err != nil {
		t.Fatalf("parse no flags: %v", err)
	}
	got, err := Files(*cfg)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	for path, want := range generateDefault(t) {
		if !bytes.Equal(got[path], want) {
			t.Errorf("%s generated from the flag defaults differs from DefaultConfig()", path)
		}
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	cfg, err := parseFlags(t,
		`--rules.selector=job="batch-exporter", cluster="eu-1"`,
		"--rules.runbook-url-base=https://runbooks.example.com/batch.html",
		"--rules.extra-label=team=data-platform",
		"--rules.for=BatchWorkloadFailing=30m",
		"--rules.for=BatchBacklogStuck=1h",
		"--rules.deadline-warning-ratio=0.9",
		"--rules.retry-budget-ratio=0.5",
		"--rules.failing-critical-streak=5",
		"--rules.no-recent-success-grace=30m",
		"--rules.interval-lookback=2d",
		"--rules.skipped-window=3h",
		"--rules.backlog-max-wait=2h",
		"--rules.run-stats-window=7d",
	)
	if err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	files, err := Files(*cfg)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	content := files[RuleFilePath]
	if err := Validate(content); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if bytes.Contains(content, []byte(`job="batchwatch"`)) {
		t.Error(`rule file still selects job="batchwatch"`)
	}

	byName := map[string]rule{}
	for _, a := range alertsOf(parseRuleFile(t, content)) {
		byName[a.Alert+"/"+a.Labels["severity"]] = a

		if a.Labels["team"] != "data-platform" {
			t.Errorf("%s labels = %v, want team=data-platform", a.Alert, a.Labels)
		}
		if want := "https://runbooks.example.com/batch.html#" + strings.ToLower(a.Alert); a.Annotations["runbook_url"] != want {
			t.Errorf("%s runbook_url = %q, want %q", a.Alert, a.Annotations["runbook_url"], want)
		}
		wantFor := map[string]string{alertWorkloadFailing: "30m", alertBacklogStuck: "1h"}[a.Alert]
		if wantFor == "" {
			wantFor = DefaultConfig().For[a.Alert].String()
		}
		if a.For != wantFor {
			t.Errorf("%s for = %s, want %s", a.Alert, a.For, wantFor)
		}
	}

	checks := []struct {
		alert, field, want string
	}{
		{"BatchwatchDown/critical", "expr", `up{job="batch-exporter", cluster="eu-1"} == 0`},
		{"BatchRunNearDeadline/warning", "expr", ">= 0.9"},
		{"BatchRunNearDeadline/warning", "description", "Threshold: 90%."},
		{"BatchRetryBudgetLow/warning", "expr", ">= 0.5"},
		{"BatchWorkloadFailing/critical", "expr", ">= 5"},
		{"BatchWorkloadNoRecentSuccess/critical", "expr", "+ 1800"},
		{"BatchWorkloadNoRecentSuccess/critical", "description", "(the longest in the last 2d) plus 30m grace"},
		{"BatchScheduleSkipped/warning", "expr", "[3h]"},
		{"BatchBacklogStuck/warning", "expr", "> 7200"},
		{"BatchBacklogStuck/warning", "description", "Threshold: 2h."},
	}
	for _, c := range checks {
		a, ok := byName[c.alert]
		if !ok {
			t.Errorf("no alert %s", c.alert)
			continue
		}
		got := a.Expr
		if c.field == "description" {
			got = a.Annotations["description"]
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%s %s = %q, want it to contain %q", c.alert, c.field, got, c.want)
		}
	}

	for _, want := range []string{"max_over_time(batchwatch_schedule_interval_seconds{job=\"batch-exporter\", cluster=\"eu-1\"}[2d])", "[1w]"} {
		if !bytes.Contains(content, []byte(want)) {
			t.Errorf("rule file does not contain %q", want)
		}
	}
}

func TestFlagsRejectInvalidValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"for without duration", []string{"--rules.for=BatchWorkloadFailing"}},
		{"for of unknown alert", []string{"--rules.for=KubeJobFailed=15m"}},
		{"for with invalid duration", []string{"--rules.for=BatchWorkloadFailing=soon"}},
		{"invalid duration", []string{"--rules.backlog-max-wait=an hour"}},
		{"invalid ratio", []string{"--rules.deadline-warning-ratio=high"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseFlags(t, tt.args...); err == nil {
				t.Errorf("parse %v returned nil error", tt.args)
			}
		})
	}
}

func TestFilesRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"empty selector", func(c *Config) { c.Selector = " " }, "invalid selector"},
		{"selector that does not parse", func(c *Config) { c.Selector = `job=batchwatch` }, "validate"},
		{"relative runbook URL", func(c *Config) { c.RunbookURLBase = "docs/runbooks.md" }, "invalid runbook URL base"},
		{"runbook URL with fragment", func(c *Config) { c.RunbookURLBase = "https://example.com/r.md#top" }, "invalid runbook URL base"},
		{"extra label severity", func(c *Config) { c.ExtraLabels["severity"] = "page" }, "invalid extra label name"},
		{"extra label with dash", func(c *Config) { c.ExtraLabels["team-name"] = "data" }, "invalid extra label name"},
		{"missing for", func(c *Config) { delete(c.For, alertBacklogStuck) }, "BatchBacklogStuck"},
		{"deadline ratio of 1", func(c *Config) { c.DeadlineWarningRatio = 1 }, "invalid deadline warning ratio"},
		{"retry ratio of 0", func(c *Config) { c.RetryBudgetRatio = 0 }, "invalid retry budget ratio"},
		{"streak of 1", func(c *Config) { c.FailingCriticalStreak = 1 }, "invalid failing critical streak"},
		{"zero lookback", func(c *Config) { c.IntervalLookback = 0 }, "invalid interval lookback"},
		{"quantile of 1", func(c *Config) { c.DurationQuantiles = []float64{1} }, "invalid duration quantile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(cfg)
			_, err := Files(*cfg)
			if err == nil {
				t.Fatalf("Files returned nil error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Files error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
