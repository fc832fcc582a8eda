package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/common/model"

	"github.com/batchwatch/batchwatch/rules"
)

// Config holds the generator options. The defaults of the selector and the
// thresholds are those of the alert rules, so that a panel turns red when the
// matching alert fires.
type Config struct {
	// JobSelector is the label matcher list, without braces, that selects the
	// batchwatch scrape target in every query, such as job="batchwatch".
	JobSelector string
	// ClusterLabel is the label that distinguishes clusters when one
	// Prometheus holds several. Queries still work when no series carries it.
	ClusterLabel string
	// Datasource is the name of the Prometheus data source that the
	// datasource variable selects first. Empty selects Grafana's default.
	Datasource string
	// DeadlineWarningRatio is the deadline utilisation (elapsed time divided
	// by activeDeadlineSeconds) at which panels turn orange. They turn red at
	// 1, where the controller terminates the run.
	DeadlineWarningRatio float64
	// RetryBudgetRatio is the share of the retry limit at which panels turn red.
	RetryBudgetRatio float64
	// BacklogStuckAfter is the wait to start at which panels turn red.
	BacklogStuckAfter model.Duration
}

// deadlineRatio is the deadline utilisation at which the controller
// terminates a run and marks it failed.
const deadlineRatio = 1.0

// DefaultConfig returns the options that produce the committed files.
func DefaultConfig() *Config {
	alerts := rules.DefaultConfig()
	return &Config{
		JobSelector:          alerts.Selector,
		ClusterLabel:         "cluster",
		DeadlineWarningRatio: alerts.DeadlineWarningRatio,
		RetryBudgetRatio:     alerts.RetryBudgetRatio,
		BacklogStuckAfter:    alerts.BacklogMaxWait,
	}
}

// UseRules takes the selector and thresholds of the alert rules, so panels
// select the same target and turn red where the alerts fire.
func (c *Config) UseRules(alerts *rules.Config) {
	c.JobSelector = alerts.Selector
	c.DeadlineWarningRatio = alerts.DeadlineWarningRatio
	c.RetryBudgetRatio = alerts.RetryBudgetRatio
	c.BacklogStuckAfter = alerts.BacklogMaxWait
}

// AddFlags registers flags that override the defaults. The selector and the
// thresholds come from the rules flags through UseRules.
func (c *Config) AddFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("dashboards.cluster-label", "Label that tells clusters apart in a Prometheus that holds several; the dashboards also work without it.").
		Default(c.ClusterLabel).StringVar(&c.ClusterLabel)
	cmd.Flag("dashboards.datasource", "Name of the Prometheus data source the dashboards select first; empty selects Grafana's default data source.").
		Default(c.Datasource).StringVar(&c.Datasource)
}

var labelNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// validate rejects options that would produce broken queries or thresholds
// that contradict each other.
func (c Config) validate() error {
	var errs []error
	if _, err := promqlParser.ParseMetricSelector("{" + c.JobSelector + "}"); err != nil || strings.TrimSpace(c.JobSelector) == "" {
		errs = append(errs, fmt.Errorf("invalid job selector %q: want label matchers without braces, such as job=\"batchwatch\"", c.JobSelector))
	}
	if !labelNamePattern.MatchString(c.ClusterLabel) {
		errs = append(errs, fmt.Errorf("invalid cluster label %q: want a Prometheus label name", c.ClusterLabel))
	}
	if c.DeadlineWarningRatio <= 0 || c.DeadlineWarningRatio >= deadlineRatio {
		errs = append(errs, fmt.Errorf("invalid deadline warning ratio %g: want a value between 0 and 1, exclusive", c.DeadlineWarningRatio))
	}
	if c.RetryBudgetRatio <= 0 || c.RetryBudgetRatio > 1 {
		errs = append(errs, fmt.Errorf("invalid retry budget ratio %g: want a value above 0 and at most 1", c.RetryBudgetRatio))
	}
	if c.BacklogStuckAfter <= 0 {
		errs = append(errs, fmt.Errorf("invalid backlog stuck duration %s: want a positive duration", c.BacklogStuckAfter))
	}
	return errors.Join(errs...)
}

// definition pairs a dashboard's name with its builder. The name is the base
// name of the Go file that builds the dashboard, and the UID and the
// generated file are derived from it.
type definition struct {
	name  string
	build func(Config) (dashboard.Dashboard, error)
}

var definitions = []definition{
	{name: "overview", build: Overview},
	{name: "schedules", build: Schedules},
	{name: "runs", build: Runs},
	{name: "backlog", build: Backlog},
}

const (
	uidPrefix = "batchwatch-"
	// generatedDir is where the dashboard JSON files are written, relative
	// to the repository root.
	generatedDir = "dashboards/generated"
	// configMapPath is the sidecar ConfigMap, relative to the repository root.
	configMapPath = "deploy/grafana-dashboards.yaml"
)

func uidOf(name string) string { return uidPrefix + name }

// rendered is one dashboard as committed: its definition and its JSON.
type rendered struct {
	definition
	json []byte
}

// render builds every dashboard, checks that each query parses and encodes
// the result as indented JSON.
func render(cfg Config) ([]rendered, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid dashboard options: %w", err)
	}

	out := make([]rendered, 0, len(definitions))
	for _, def := range definitions {
		board, err := def.build(cfg)
		if err != nil {
			return nil, fmt.Errorf("build dashboard %s: %w", def.name, err)
		}
		numberPanels(&board)

		encoded, err := encodeJSON(board)
		if err != nil {
			return nil, fmt.Errorf("encode dashboard %s: %w", def.name, err)
		}
		if err := checkQueries(encoded); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", def.name, err)
		}
		out = append(out, rendered{definition: def, json: encoded})
	}
	return out, nil
}

// Files returns the generated files keyed by their path from the repository root.
func Files(cfg Config) (map[string][]byte, error) {
	boards, err := render(cfg)
	if err != nil {
		return nil, err
	}

	files := make(map[string][]byte, len(boards)+1)
	for _, b := range boards {
		files[generatedDir+"/"+b.name+".json"] = b.json
	}
	configMapFile, err := configMap(boards)
	if err != nil {
		return nil, err
	}
	files[configMapPath] = configMapFile
	return files, nil
}

// numberPanels gives every panel and row a unique ID in layout order,
// because Grafana identifies panels by ID in links and the panel editor.
func numberPanels(board *dashboard.Dashboard) {
	var id uint32
	newID := func() *uint32 {
		id++
		value := id
		return &value
	}
	for i := range board.Panels {
		entry := &board.Panels[i]
		if entry.RowPanel != nil {
			entry.RowPanel.Id = *newID()
			for j := range entry.RowPanel.Panels {
				entry.RowPanel.Panels[j].Id = newID()
			}
		}
		if entry.Panel != nil {
			entry.Panel.Id = newID()
		}
	}
}

// encodeJSON renders the dashboard as indented JSON without HTML escaping,
// so that PromQL comparisons read as >= and not \u003e=.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const (
	configMapName      = "batchwatch-dashboards"
	configMapNamespace = "batchwatch"
)

// configMap renders the ConfigMap that the Grafana sidecar loads: one key per
// dashboard, named after its UID so that keys cannot clash with other
// dashboards in the sidecar's folder. Each value is the dashboard as compact
// JSON on one line of a literal block scalar, which needs no escaping.
// Compact JSON keeps the object well below the 262144 bytes that client-side
// kubectl apply can store in its last-applied-configuration annotation.
func configMap(boards []rendered) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Code generated by batchwatch generate. DO NOT EDIT.\n")
	b.WriteString("apiVersion: v1\n")
	b.WriteString("kind: ConfigMap\n")
	b.WriteString("metadata:\n")
	b.WriteString("  name: " + configMapName + "\n")
	b.WriteString("  namespace: " + configMapNamespace + "\n")
	b.WriteString("  labels:\n")
	b.WriteString("    app.kubernetes.io/name: batchwatch\n")
	b.WriteString("    grafana_dashboard: \"1\"\n")
	b.WriteString("data:\n")
	for _, board := range sortedByUID(boards) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, board.json); err != nil {
			return nil, fmt.Errorf("compact dashboard %s: %w", board.name, err)
		}
		b.WriteString("  " + uidOf(board.name) + ".json: |\n")
		b.WriteString("    " + compact.String() + "\n")
	}
	return b.Bytes(), nil
}

func sortedByUID(boards []rendered) []rendered {
	sorted := slices.Clone(boards)
	slices.SortFunc(sorted, func(a, b rendered) int { return strings.Compare(uidOf(a.name), uidOf(b.name)) })
	return sorted
}
