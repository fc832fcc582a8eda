package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/batchwatch/batchwatch/collector"
	"github.com/batchwatch/batchwatch/rules"
)

// repoRoot is the repository root relative to this package, where the
// generated paths start.
const repoRoot = ".."

func TestGeneratedFilesMatchCommitted(t *testing.T) {
	files, err := Files(*DefaultConfig())
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			t.Errorf("read committed %s: %v; run 'go run ./cmd/batchwatch generate' from the repository root", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generated content; run 'go run ./cmd/batchwatch generate' from the repository root and review the diff", path)
		}
	}

	committed, err := filepath.Glob(filepath.Join(repoRoot, generatedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range committed {
		rel := generatedDir + "/" + filepath.Base(path)
		if _, ok := files[rel]; !ok {
			t.Errorf("%s is committed but no dashboard generates it; delete it", rel)
		}
	}
}

func TestFilesAreDeterministic(t *testing.T) {
	first, err := Files(*DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Files(*DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for path := range first {
		if !bytes.Equal(first[path], second[path]) {
			t.Errorf("%s differs between two runs", path)
		}
	}
}

func TestDashboardIdentity(t *testing.T) {
	seen := map[string]string{}
	for _, b := range renderBoards(t, *DefaultConfig()) {
		want := uidPrefix + b.name
		if b.board.UID != want {
			t.Errorf("dashboard %s: uid %q, want %q", b.name, b.board.UID, want)
		}
		if len(b.board.UID) > 40 {
			t.Errorf("dashboard %s: uid %q is longer than the 40 characters Grafana accepts", b.name, b.board.UID)
		}
		if other, ok := seen[b.board.UID]; ok {
			t.Errorf("dashboards %s and %s share uid %q", other, b.name, b.board.UID)
		}
		seen[b.board.UID] = b.name
		if _, err := os.Stat(b.name + ".go"); err != nil {
			t.Errorf("dashboard %s: the uid must derive from the file that builds it, but %s.go is missing", b.name, b.name)
		}
		if !slices.Contains(b.board.Tags, "batchwatch") {
			t.Errorf("dashboard %s: tags %v lack batchwatch", b.name, b.board.Tags)
		}
	}
}

func TestDashboardLinksKeepTimeAndVariables(t *testing.T) {
	for _, b := range renderBoards(t, *DefaultConfig()) {
		found := false
		for _, l := range b.board.Links {
			if l.Type == "dashboards" && slices.Contains(l.Tags, "batchwatch") {
				found = true
				if !l.KeepTime || !l.IncludeVars {
					t.Errorf("dashboard %s: link to the batchwatch dashboards has keepTime=%v includeVars=%v, want both true", b.name, l.KeepTime, l.IncludeVars)
				}
			}
		}
		if !found {
			t.Errorf("dashboard %s: no link to the dashboards tagged batchwatch", b.name)
		}
	}
}

func TestPanelsFitTheGrid(t *testing.T) {
	const gridWidth = 24
	for _, b := range renderBoards(t, *DefaultConfig()) {
		var placed []gridPosJSON
		for _, raw := range b.rawPanels {
			var p struct {
				Title   string      `json:"title"`
				GridPos gridPosJSON `json:"gridPos"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			g := p.GridPos
			if g.W == 0 || g.H == 0 || g.X+g.W > gridWidth {
				t.Errorf("dashboard %s, panel %q: position %+v does not fit a grid %d wide", b.name, p.Title, g, gridWidth)
			}
			for _, other := range placed {
				if g.X < other.X+other.W && other.X < g.X+g.W && g.Y < other.Y+other.H && other.Y < g.Y+g.H {
					t.Errorf("dashboard %s, panel %q at %+v overlaps a panel at %+v", b.name, p.Title, g, other)
				}
			}
			placed = append(placed, g)
		}
	}
}

type gridPosJSON struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// dataLinkTarget matches the dashboard UID of a panel data link.
var dataLinkTarget = regexp.MustCompile(`/d/([a-z0-9-]+)`)

func TestDataLinksTargetGeneratedDashboards(t *testing.T) {
	uids := map[string]bool{}
	for _, def := range definitions {
		uids[uidOf(def.name)] = true
	}
	links := 0
	for _, b := range renderBoards(t, *DefaultConfig()) {
		for _, m := range dataLinkTarget.FindAllStringSubmatch(string(b.json), -1) {
			links++
			if !uids[m[1]] {
				t.Errorf("dashboard %s links to unknown dashboard %q", b.name, m[1])
			}
		}
	}
	if links == 0 {
		t.Error("no data link found; the failing workloads and schedules tables should link to the runs dashboard")
	}
}

func TestVariablesAreDefined(t *testing.T) {
	for _, b := range renderBoards(t, *DefaultConfig()) {
		defined := map[string]bool{}
		var order []string
		for _, v := range b.board.Templating.List {
			defined[v.Name] = true
			order = append(order, v.Name)
		}

		wantFirst := []string{"datasource", "cluster", "namespace", "kind", "workload"}
		if len(order) < len(wantFirst) || !slices.Equal(order[:len(wantFirst)], wantFirst) {
			t.Errorf("dashboard %s: variables %v, want them to start with %v", b.name, order, wantFirst)
		}

		// The whole JSON is scanned, so that data links, legends and
		// variable queries are covered as well as panel queries.
		for _, name := range referencedVariables(string(b.json)) {
			if strings.HasPrefix(name, "__") {
				continue // Grafana's own variables, such as $__rate_interval.
			}
			if !defined[name] {
				t.Errorf("dashboard %s: variable $%s is used but not defined", b.name, name)
			}
		}
	}
}

func TestLabelVariablesMatchMissingLabels(t *testing.T) {
	for _, b := range renderBoards(t, *DefaultConfig()) {
		for _, v := range b.board.Templating.List {
			if v.Type != "query" {
				continue
			}
			if !v.IncludeAll || v.AllValue != ".*" {
				t.Errorf("dashboard %s, variable %s: includeAll=%v allValue=%q, want true and \".*\"", b.name, v.Name, v.IncludeAll, v.AllValue)
			}
		}
	}

	// With All selected, the cluster matcher must keep series that have no
	// cluster label at all, such as those of a single-cluster Prometheus.
	all, err := labels.NewMatcher(labels.MatchRegexp, "cluster", ".*")
	if err != nil {
		t.Fatal(err)
	}
	if !all.Matches("") {
		t.Error(`cluster=~".*" does not match a series without the cluster label`)
	}
}

func TestVariableQueriesSelectKnownMetrics(t *testing.T) {
	known := knownMetrics(t)
	carried := metricLabels(t)
	for _, b := range renderBoards(t, *DefaultConfig()) {
		values := placeholderValues(b.board)
		for _, v := range b.board.Templating.List {
			if v.Type != "query" {
				continue
			}
			selector, label, err := parseVariableQuery(v.queryString(), values)
			if err != nil {
				t.Errorf("dashboard %s, variable %s: %v", b.name, v.Name, err)
				continue
			}
			for _, metric := range selectedMetrics(selector.(*parser.VectorSelector)) {
				if !known[metric] {
					t.Errorf("dashboard %s, variable %s: unknown metric %s", b.name, v.Name, metric)
					continue
				}
				if metric != "up" && !slices.Contains(carried[metric], label) {
					t.Errorf("dashboard %s, variable %s: metric %s has no label %s to list", b.name, v.Name, metric, label)
				}
			}
		}
	}
}

func TestPanelTitlesAreUnique(t *testing.T) {
	for _, b := range renderBoards(t, *DefaultConfig()) {
		seen := map[string]bool{}
		for _, p := range b.panels {
			if seen[p.Title] {
				t.Errorf("dashboard %s: two panels are titled %q; PanelQueries callers identify panels by title", b.name, p.Title)
			}
			seen[p.Title] = true
		}
	}
}

func TestPanelsHaveDescriptionAndUnit(t *testing.T) {
	for _, b := range renderBoards(t, *DefaultConfig()) {
		values := placeholderValues(b.board)
		for _, p := range b.panels {
			if p.Description == "" {
				t.Errorf("dashboard %s, panel %q: no description", b.name, p.Title)
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("dashboard %s, panel %q: no unit", b.name, p.Title)
			}

			var metrics []string
			for _, target := range p.Targets {
				expr, err := parseExpr(target.Expr, values)
				if err != nil {
					t.Fatalf("dashboard %s, panel %q: %v", b.name, p.Title, err)
				}
				for _, vs := range vectorSelectors(expr) {
					metrics = append(metrics, selectedMetrics(vs)...)
				}
			}
			if !slices.ContainsFunc(metrics, func(m string) bool { return strings.Contains(p.Description, baseName(m)) }) {
				t.Errorf("dashboard %s, panel %q: description names none of the metrics %v it queries", b.name, p.Title, metrics)
			}
		}
	}
}

func TestTableColumnsHaveUnits(t *testing.T) {
	for _, b := range renderBoards(t, *DefaultConfig()) {
		for _, p := range b.panels {
			if p.Type != "table" {
				continue
			}
			for _, target := range p.Targets {
				header, hidden := columnHeader(t, b, p, target.RefID)
				if hidden {
					continue
				}
				if columnUnit(t, b, p, header) == "" {
					t.Errorf("dashboard %s, table %q: column %q of query %s has no unit", b.name, p.Title, header, target.RefID)
				}
			}
		}
	}
}

func TestTimestampsAreShownInMilliseconds(t *testing.T) {
	checked := 0
	for _, b := range renderBoards(t, *DefaultConfig()) {
		values := placeholderValues(b.board)
		for _, p := range b.panels {
			for _, target := range p.Targets {
				expr, err := parseExpr(target.Expr, values)
				if err != nil {
					t.Fatal(err)
				}
				if !selectsTimestamp(expr) {
					continue
				}
				checked++

				unit := p.FieldConfig.Defaults.Unit
				if p.Type == "table" {
					header, _ := columnHeader(t, b, p, target.RefID)
					unit = columnUnit(t, b, p, header)
				}
				switch {
				case strings.HasPrefix(target.Expr, "time() - "):
					if unit != "s" {
						t.Errorf("dashboard %s, panel %q: time since a timestamp has unit %q, want s", b.name, p.Title, unit)
					}
				case strings.Contains(target.Expr, " * 1000"):
					if unit != "dateTimeFromNow" {
						t.Errorf("dashboard %s, panel %q: timestamp in milliseconds has unit %q, want dateTimeFromNow", b.name, p.Title, unit)
					}
				default:
					t.Errorf("dashboard %s, panel %q: query %s shows a Unix timestamp in seconds; multiply it by 1000 for Grafana's date units: %s", b.name, p.Title, target.RefID, target.Expr)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no query selects a timestamp; the schedules dashboard should show next slot and last success")
	}
}

func TestQueriesSelectKnownMetrics(t *testing.T) {
	known := knownMetrics(t)
	for _, b := range renderBoards(t, *DefaultConfig()) {
		values := placeholderValues(b.board)
		for _, p := range b.panels {
			if len(p.Targets) == 0 {
				t.Errorf("dashboard %s, panel %q: no query", b.name, p.Title)
			}
			for _, target := range p.Targets {
				expr, err := parseExpr(target.Expr, values)
				if err != nil {
					t.Errorf("dashboard %s, panel %q, query %s: %v", b.name, p.Title, target.RefID, err)
					continue
				}
				for _, vs := range vectorSelectors(expr) {
					metrics := selectedMetrics(vs)
					if len(metrics) == 0 {
						t.Errorf("dashboard %s, panel %q: selector %s names no metric", b.name, p.Title, vs)
					}
					for _, m := range metrics {
						if !known[baseName(m)] {
							t.Errorf("dashboard %s, panel %q: %s is neither exported by batchwatch nor recorded in rules/generated", b.name, p.Title, m)
						}
					}
				}
			}
		}
	}
}

func TestQueriesHonourSelectorAndVariables(t *testing.T) {
	custom := *DefaultConfig()
	custom.JobSelector = `job="batchwatch-prod", service!="canary"`
	custom.ClusterLabel = "k8s_cluster"

	for _, cfg := range []Config{*DefaultConfig(), custom} {
		jobMatchers, err := promqlParser.ParseMetricSelector("{" + cfg.JobSelector + "}")
		if err != nil {
			t.Fatal(err)
		}
		carried := metricLabels(t)

		for _, b := range renderBoards(t, cfg) {
			values := placeholderValues(b.board)
			for _, p := range b.panels {
				for _, target := range p.Targets {
					expr, err := parseExpr(target.Expr, values)
					if err != nil {
						t.Fatal(err)
					}
					for _, vs := range vectorSelectors(expr) {
						where := b.name + ", panel " + p.Title + ", selector " + vs.String()
						for _, want := range jobMatchers {
							if !hasMatcher(vs, want.Type, want.Name, want.Value) {
								t.Errorf("%s: missing job selector matcher %s", where, want)
							}
						}
						for _, want := range requiredVariableMatchers(cfg, vs.Name, carried) {
							if !hasMatcher(vs, labels.MatchRegexp, want[0], "$"+want[1]) {
								t.Errorf("%s: missing %s=~\"$%s\"", where, want[0], want[1])
							}
						}
						for _, m := range vs.LabelMatchers {
							if strings.Contains(m.Value, "$") && m.Type != labels.MatchRegexp {
								t.Errorf("%s: variable matcher %s must use =~, because multi-value and All values are regexes", where, m)
							}
						}
					}
				}
			}
		}
	}
}

func TestThresholdsFollowConfig(t *testing.T) {
	cfg := *DefaultConfig()
	cfg.DeadlineWarningRatio = 0.7
	cfg.RetryBudgetRatio = 0.6
	cfg.BacklogStuckAfter = model.Duration(2 * time.Hour)

	want := map[string][]float64{
		"batchwatch_run_deadline_utilization_ratio":                          {0.7, 1},
		"namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit": {0.6},
		"batchwatch_backlog_oldest_wait_seconds":                             {7200},
	}
	found := map[string]int{}
	for _, b := range renderBoards(t, cfg) {
		var decoded struct {
			Panels []thresholdPanelJSON `json:"panels"`
		}
		if err := json.Unmarshal(b.json, &decoded); err != nil {
			t.Fatal(err)
		}
		for _, p := range decoded.Panels {
			if len(p.Targets) == 0 || p.Type == "table" {
				continue
			}
			for metric, steps := range want {
				if !strings.Contains(p.Targets[0].Expr, metric+"{") || strings.HasPrefix(p.Targets[0].Expr, "count(") {
					continue
				}
				found[metric]++
				if got := p.FieldConfig.Defaults.Thresholds.values(); !slices.Equal(got, steps) {
					t.Errorf("dashboard %s, panel %q: thresholds %v, want %v", b.name, p.Title, got, steps)
				}
			}
		}
	}
	for metric := range want {
		if found[metric] == 0 {
			t.Errorf("no panel plots %s with thresholds", metric)
		}
	}
}

func TestPanelQueries(t *testing.T) {
	queries, err := PanelQueries(*DefaultConfig())
	if err != nil {
		t.Fatalf("PanelQueries: %v", err)
	}

	panels := 0
	for _, b := range renderBoards(t, *DefaultConfig()) {
		panels += len(b.panels)
	}
	if len(queries) != panels {
		t.Errorf("got %d panel queries, want one for each of the %d panels", len(queries), panels)
	}

	for _, q := range queries {
		if !strings.HasPrefix(q.DashboardUID, uidPrefix) || q.PanelTitle == "" || q.Expr == "" {
			t.Errorf("incomplete panel query %+v", q)
		}
		if strings.Contains(q.Expanded, "$") {
			t.Errorf("%s, panel %q: expanded query still holds a variable: %s", q.DashboardUID, q.PanelTitle, q.Expanded)
		}
		if _, err := promqlParser.ParseExpr(q.Expanded); err != nil {
			t.Errorf("%s, panel %q: expanded query does not parse: %v", q.DashboardUID, q.PanelTitle, err)
		}
	}
}

func TestConfigMap(t *testing.T) {
	files, err := Files(*DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	content := files[configMapPath]

	firstLine, _, _ := strings.Cut(string(content), "\n")
	if firstLine != "# Code generated by batchwatch generate. DO NOT EDIT." {
		t.Errorf("first line %q, want the generated-code header", firstLine)
	}
	// Client-side kubectl apply stores the object in an annotation, whose
	// values may hold 262144 bytes in total.
	if len(content) > 200000 {
		t.Errorf("ConfigMap is %d bytes, too close to the 262144 bytes kubectl apply can store", len(content))
	}

	var cm struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string            `yaml:"name"`
			Namespace string            `yaml:"namespace"`
			Labels    map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(content, &cm); err != nil {
		t.Fatalf("parse ConfigMap: %v", err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" {
		t.Errorf("apiVersion %q kind %q, want v1 ConfigMap", cm.APIVersion, cm.Kind)
	}
	if cm.Metadata.Namespace != "batchwatch" {
		t.Errorf("namespace %q, want batchwatch", cm.Metadata.Namespace)
	}
	if cm.Metadata.Labels["grafana_dashboard"] != "1" {
		t.Errorf("labels %v, want grafana_dashboard: \"1\" for the Grafana sidecar", cm.Metadata.Labels)
	}

	if len(cm.Data) != len(definitions) {
		t.Errorf("ConfigMap has %d keys, want one per dashboard (%d)", len(cm.Data), len(definitions))
	}
	for _, def := range definitions {
		key := uidOf(def.name) + ".json"
		value, ok := cm.Data[key]
		if !ok {
			t.Errorf("ConfigMap lacks key %s", key)
			continue
		}
		var want bytes.Buffer
		if err := json.Compact(&want, files[generatedDir+"/"+def.name+".json"]); err != nil {
			t.Fatal(err)
		}
		if strings.TrimSuffix(value, "\n") != want.String() {
			t.Errorf("ConfigMap key %s differs from %s/%s.json", key, generatedDir, def.name)
		}
	}
}

func TestFlagsOverrideDefaults(t *testing.T) {
	cfg := DefaultConfig()
	app := kingpin.New("batchwatch", "")
	cfg.AddFlags(app.Command("generate", ""))
	alerts := rules.DefaultConfig()
	alerts.AddFlags(app.GetCommand("generate"))
	_, err := app.Parse([]string{"generate",
		`--rules.selector=job="bw"`,
		"--dashboards.cluster-label=region",
		"--dashboards.datasource=Mimir",
		"--rules.deadline-warning-ratio=0.9",
		"--rules.retry-budget-ratio=0.5",
		"--rules.backlog-max-wait=1d",
	})
	if err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	cfg.UseRules(alerts)

	want := Config{
		JobSelector:          `job="bw"`,
		ClusterLabel:         "region",
		Datasource:           "Mimir",
		DeadlineWarningRatio: 0.9,
		RetryBudgetRatio:     0.5,
		BacklogStuckAfter:    model.Duration(24 * time.Hour),
	}
	if *cfg != want {
		t.Errorf("config after flags = %+v, want %+v", *cfg, want)
	}

	files, err := Files(*cfg)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	overview := string(files[generatedDir+"/overview.json"])
	if !strings.Contains(overview, `"text": "Mimir"`) {
		t.Error("datasource variable does not select the data source named by --dashboards.datasource")
	}
	if strings.Contains(overview, `job=\"batchwatch\"`) {
		t.Error("overview still selects the default job after --rules.selector")
	}
}

func TestInvalidConfigIsRejected(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"unparsable job selector", func(c *Config) { c.JobSelector = `job=batchwatch` }, "invalid job selector"},
		{"empty job selector", func(c *Config) { c.JobSelector = "" }, "invalid job selector"},
		{"cluster label with dash", func(c *Config) { c.ClusterLabel = "k8s-cluster" }, "invalid cluster label"},
		{"deadline warning at deadline", func(c *Config) { c.DeadlineWarningRatio = 1 }, "invalid deadline warning ratio"},
		{"retry budget above 1", func(c *Config) { c.RetryBudgetRatio = 1.5 }, "invalid retry budget ratio"},
		{"zero backlog wait", func(c *Config) { c.BacklogStuckAfter = 0 }, "invalid backlog stuck duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := *DefaultConfig()
			tt.modify(&cfg)
			_, err := Files(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Files error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestExpandVariables(t *testing.T) {
	values := map[string]string{"namespace": ".*", "window": "1d"}
	got, err := expandVariables(`rate(x{namespace=~"$namespace", a=~"${namespace}"}[$window]) + rate(x[$__rate_interval])`, values)
	if err != nil {
		t.Fatal(err)
	}
	want := `rate(x{namespace=~".*", a=~".*"}[1d]) + rate(x[5m])`
	if got != want {
		t.Errorf("expandVariables = %q, want %q", got, want)
	}

	if _, err := expandVariables(`x{kind=~"$kind"}`, values); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("undefined variable: error = %v, want one naming kind", err)
	}
}

// renderedBoard is one generated dashboard, decoded for the checks.
type renderedBoard struct {
	name   string
	json   []byte
	board  boardJSON
	panels []panelJSON
	// rawPanels holds the JSON of each top-level panel by panel ID.
	rawPanels map[uint32]json.RawMessage
}

func renderBoards(t *testing.T, cfg Config) []renderedBoard {
	t.Helper()
	boards, err := render(cfg)
	if err != nil {
		t.Fatalf("render dashboards: %v", err)
	}
	out := make([]renderedBoard, 0, len(boards))
	for _, b := range boards {
		decoded, err := decodeBoard(b.json)
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(b.json, &raw); err != nil {
			t.Fatal(err)
		}
		rawPanels := map[uint32]json.RawMessage{}
		for _, p := range raw.Panels {
			var id struct {
				ID uint32 `json:"id"`
			}
			if err := json.Unmarshal(p, &id); err != nil {
				t.Fatal(err)
			}
			rawPanels[id.ID] = p
		}
		out = append(out, renderedBoard{name: b.name, json: b.json, board: decoded, panels: decoded.allPanels(), rawPanels: rawPanels})
	}
	if len(out) != 4 {
		t.Fatalf("rendered %d dashboards, want 4", len(out))
	}
	return out
}

// placeholderValues expands the label variables to their own reference, so
// that a parsed matcher shows which variable it uses, and the other
// variables to their default value.
func placeholderValues(board boardJSON) map[string]string {
	values := board.defaultValues()
	for _, v := range board.Templating.List {
		if v.IncludeAll {
			values[v.Name] = "$" + v.Name
		}
	}
	return values
}

func vectorSelectors(expr parser.Expr) []*parser.VectorSelector {
	var selectors []*parser.VectorSelector
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			selectors = append(selectors, vs)
		}
		return nil
	})
	return selectors
}

// selectedMetrics returns the metric names a selector selects: its name, or
// the alternatives of a __name__ matcher.
func selectedMetrics(vs *parser.VectorSelector) []string {
	if vs.Name != "" {
		return []string{vs.Name}
	}
	for _, m := range vs.LabelMatchers {
		if m.Name != model.MetricNameLabel {
			continue
		}
		if m.Type == labels.MatchEqual {
			return []string{m.Value}
		}
		if m.Type == labels.MatchRegexp {
			return strings.Split(m.Value, "|")
		}
	}
	return nil
}

func hasMatcher(vs *parser.VectorSelector, typ labels.MatchType, name, value string) bool {
	return slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
		return m.Type == typ && m.Name == name && m.Value == value
	})
}

// requiredVariableMatchers returns the label and variable pairs a selector of
// metric must match: the cluster always, and namespace, kind and workload
// where the metric carries the label. Schedule series match the workload
// variable on their name.
func requiredVariableMatchers(cfg Config, metric string, carried map[string][]string) [][2]string {
	required := [][2]string{{cfg.ClusterLabel, "cluster"}}
	metricLabels := carried[baseName(metric)]
	for _, label := range []string{"namespace", "kind", "workload"} {
		if slices.Contains(metricLabels, label) {
			required = append(required, [2]string{label, label})
		}
	}
	if !slices.Contains(metricLabels, "workload") && strings.HasPrefix(recordedMetric(metric), "batchwatch_schedule_") {
		required = append(required, [2]string{"name", "workload"})
	}
	return required
}

// recordedMetric returns the metric part of a recording rule name in the
// level:metric:operations form, and other names unchanged.
func recordedMetric(name string) string {
	parts := strings.Split(name, ":")
	if len(parts) == 3 {
		return parts[1]
	}
	return name
}

// histogramSuffixes are the series suffixes of a classic histogram.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// baseName maps a histogram series name to the name of its family.
func baseName(metric string) string {
	names := collector.MetricNames()
	for _, suffix := range histogramSuffixes {
		if base, ok := strings.CutSuffix(metric, suffix); ok && slices.Contains(names, base) {
			return base
		}
	}
	return metric
}

// knownMetrics returns the metrics a query may select: the families the
// collector describes, up, and the recording rules of the committed rule
// files.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{"up": true}
	for _, name := range collector.MetricNames() {
		known[name] = true
	}
	for _, name := range recordingRules(t) {
		known[name] = true
	}
	return known
}

func recordingRules(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "rules", "generated", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range paths {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(content, &file); err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					names = append(names, r.Record)
				}
			}
		}
	}
	return names
}

// metricLabels returns the labels of each metric: for the collector's
// families from the table of docs/metrics.md that collector.MetricsDoc
// renders, and for recording rules from their level, which by the
// level:metric:operations convention lists the labels the rule keeps.
func metricLabels(t *testing.T) map[string][]string {
	t.Helper()
	carried := map[string][]string{}
	backticked := regexp.MustCompile("`([a-zA-Z_][a-zA-Z0-9_]*)`")
	for _, line := range strings.Split(string(collector.MetricsDoc()), "\n") {
		cells := strings.SplitN(line, " | ", 4)
		if len(cells) < 4 || !strings.HasPrefix(cells[0], "| `batchwatch_") {
			continue
		}
		name := strings.Trim(strings.TrimPrefix(cells[0], "| "), "`")
		var names []string
		for _, m := range backticked.FindAllStringSubmatch(cells[2], -1) {
			names = append(names, m[1])
		}
		carried[name] = names
	}
	if len(carried) != len(collector.MetricNames()) {
		t.Fatalf("read the labels of %d metrics from collector.MetricsDoc, want %d: has the table format changed?", len(carried), len(collector.MetricNames()))
	}
	for _, record := range recordingRules(t) {
		level, _, _ := strings.Cut(record, ":")
		carried[record] = strings.Split(level, "_")
	}
	return carried
}

// selectsTimestamp reports whether expr selects a _timestamp_seconds metric.
func selectsTimestamp(expr parser.Expr) bool {
	for _, vs := range vectorSelectors(expr) {
		for _, m := range selectedMetrics(vs) {
			if strings.HasSuffix(m, "_timestamp_seconds") {
				return true
			}
		}
	}
	return false
}

// tablePanelJSON holds the table settings that map a query to its column.
type tablePanelJSON struct {
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			ExcludeByName map[string]bool   `json:"excludeByName"`
			RenameByName  map[string]string `json:"renameByName"`
		} `json:"options"`
	} `json:"transformations"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

// tableOf decodes the table settings of a top-level panel.
func tableOf(t *testing.T, b renderedBoard, p panelJSON) tablePanelJSON {
	t.Helper()
	var table tablePanelJSON
	if err := json.Unmarshal(b.rawPanels[p.ID], &table); err != nil {
		t.Fatalf("dashboard %s, panel %q: %v", b.name, p.Title, err)
	}
	return table
}

// columnHeader returns the header of the column that the query refID fills,
// and whether the table hides that column.
func columnHeader(t *testing.T, b renderedBoard, p panelJSON, refID string) (string, bool) {
	valueField := "Value"
	if len(p.Targets) > 1 {
		valueField = "Value #" + refID
	}
	for _, tr := range tableOf(t, b, p).Transformations {
		if tr.ID != "organize" {
			continue
		}
		if tr.Options.ExcludeByName[valueField] {
			return valueField, true
		}
		if header, ok := tr.Options.RenameByName[valueField]; ok {
			return header, false
		}
	}
	return valueField, false
}

// columnUnit returns the unit a table override sets for the column header.
func columnUnit(t *testing.T, b renderedBoard, p panelJSON, header string) string {
	for _, o := range tableOf(t, b, p).FieldConfig.Overrides {
		if o.Matcher.ID != "byName" || o.Matcher.Options != header {
			continue
		}
		for _, prop := range o.Properties {
			if unit, ok := prop.Value.(string); ok && prop.ID == "unit" {
				return unit
			}
		}
	}
	return ""
}

// thresholdPanelJSON holds a panel's query and threshold steps.
type thresholdPanelJSON struct {
	Type        string       `json:"type"`
	Title       string       `json:"title"`
	Targets     []targetJSON `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds thresholdsJSON `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type thresholdsJSON struct {
	Steps []struct {
		Value *float64 `json:"value"`
	} `json:"steps"`
}

// values returns the values of the steps after the base step.
func (th thresholdsJSON) values() []float64 {
	var values []float64
	for _, s := range th.Steps {
		if s.Value != nil {
			values = append(values, *s.Value)
		}
	}
	return values
}
