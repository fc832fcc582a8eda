package dashboards

import (
	"fmt"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Threshold colours, by Grafana's names for its palette.
const (
	colorOK       = "green"
	colorWarning  = "orange"
	colorCritical = "red"
)

// datasourceRef points panels and queries at the $datasource variable.
func datasourceRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// newDashboard returns a builder with the settings every batchwatch
// dashboard shares: fixed UID, tag, variables and links to the other
// dashboards that keep the time range and the variables.
func newDashboard(cfg Config, name, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uidOf(name)).
		Description(description).
		Tags([]string{"batchwatch"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-24h", "now").
		Timezone("browser").
		Refresh("1m").
		Link(linkBuilder{
			Title:       "batchwatch",
			Type:        dashboard.DashboardLinkTypeDashboards,
			Tags:        []string{"batchwatch"},
			IncludeVars: true,
			KeepTime:    true,
		}).
		Variables(standardVariables(cfg))
}

// linkBuilder builds a dashboard link exactly as given. The SDK's builder
// always sets placement "inControlsMenu", which moves the links into a menu
// of the dashboard controls. Without a placement, Grafana shows them above
// the panels.
type linkBuilder dashboard.DashboardLink

func (l linkBuilder) Build() (dashboard.DashboardLink, error) {
	return dashboard.DashboardLink(l), nil
}

// selectors builds the label matchers of every query: the job selector, the
// cluster variable, and the namespace, kind and workload variables where the
// series carries the matching label.
type selectors struct {
	job          string
	clusterLabel string
}

func newSelectors(cfg Config) selectors {
	return selectors{job: cfg.JobSelector, clusterLabel: cfg.ClusterLabel}
}

func (s selectors) build(metric string, matchers []string, extra []string) string {
	all := append([]string{s.job, s.clusterLabel + `=~"$cluster"`}, matchers...)
	all = append(all, extra...)
	return metric + "{" + strings.Join(all, ", ") + "}"
}

// by returns a grouping label list that keeps the cluster label, so that
// aggregations never add up series of different clusters.
func (s selectors) by(labels ...string) string {
	return strings.Join(append([]string{s.clusterLabel}, labels...), ", ")
}

// exporter selects the exporter's own series, which describe no object.
func (s selectors) exporter(metric string, extra ...string) string {
	return s.build(metric, nil, extra)
}

// schedule selects schedule series. They have no workload label, but a
// schedule's name is the name of the workload its runs belong to.
func (s selectors) schedule(metric string, extra ...string) string {
	return s.build(metric, []string{`namespace=~"$namespace"`, `kind=~"$kind"`, `name=~"$workload"`}, extra)
}

// workload selects workload, run, finished-run and pod-failure series.
func (s selectors) workload(metric string, extra ...string) string {
	return s.build(metric, []string{`namespace=~"$namespace"`, `kind=~"$kind"`, `workload=~"$workload"`}, extra)
}

// backlog selects backlog series, which have no workload label: a run that
// waits to start is counted per queue.
func (s selectors) backlog(metric string, extra ...string) string {
	return s.build(metric, []string{`namespace=~"$namespace"`, `kind=~"$kind"`}, extra)
}

// Metrics whose label values fill the namespace, kind and workload
// variables. Together they cover schedules, workloads with finished runs,
// active runs and waiting runs.
var (
	namespaceSources = []string{
		"batchwatch_schedule_info",
		"batchwatch_workload_last_run_failed",
		"batchwatch_run_elapsed_seconds",
		"batchwatch_backlog_runs",
	}
	workloadSources = []string{
		"batchwatch_workload_last_run_failed",
		"batchwatch_run_elapsed_seconds",
	}
)

func anyOf(metrics []string) string {
	return `__name__=~"` + strings.Join(metrics, "|") + `"`
}

// standardVariables returns the variables every dashboard has, from the
// widest to the narrowest: data source, cluster, namespace, kind, workload.
func standardVariables(cfg Config) []cog.Builder[dashboard.VariableModel] {
	s := newSelectors(cfg)
	cluster := "up{" + s.job + "}"
	namespace := s.build("", []string{anyOf(namespaceSources)}, nil)
	kind := s.build("", []string{anyOf(namespaceSources), `namespace=~"$namespace"`}, nil)
	workload := s.build("", []string{anyOf(workloadSources), `namespace=~"$namespace"`}, nil)

	return []cog.Builder[dashboard.VariableModel]{
		datasourceVariable(cfg),
		labelVariable("cluster", "Cluster",
			"Clusters by the "+cfg.ClusterLabel+" label. All also matches series without the label, so the dashboards work with one cluster and no label.",
			fmt.Sprintf("label_values(%s, %s)", cluster, cfg.ClusterLabel)),
		labelVariable("namespace", "Namespace",
			"Namespaces of the schedules, workloads, runs and waiting runs batchwatch reports.",
			"label_values("+namespace+", namespace)"),
		labelVariable("kind", "Kind",
			"Kubernetes kind of the object a series describes: CronJob, CronWorkflow or ScheduledSparkApplication on schedule series, the workload's kind on workload series, and Job, Workflow or SparkApplication on run series.",
			"label_values("+kind+", kind)"),
		labelVariable("workload", "Workload",
			"Workloads that runs belong to. On schedule panels it matches the schedule name, which is the name of its workload. Backlog series have no workload label and ignore it.",
			"label_values("+workload+", workload)"),
	}
}

func datasourceVariable(cfg Config) *dashboard.DatasourceVariableBuilder {
	variable := dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Description("Prometheus data source that scrapes batchwatch.").
		Type("prometheus")
	if cfg.Datasource != "" {
		variable.Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(cfg.Datasource)},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(cfg.Datasource)},
		})
	}
	return variable
}

// labelVariable returns a multi-value variable over the values of one label.
// Its all value is the regex ".*", which also matches series that lack the
// label, and queries match it with =~.
func labelVariable(name, label, description, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Description(description).
		Datasource(datasourceRef()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

// row returns a row that groups the panels added after it.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title)
}

// query returns a range query with a legend, such as "{{namespace}}/{{workload}}".
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasourceRef()).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// instantTableQuery returns an instant query whose result is a table with
// one column per label.
func instantTableQuery(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasourceRef()).
		Expr(expr).
		Format(prometheus.PromQueryFormatTable).
		Instant()
}

// refID names the n-th query of a panel A, B, C and so on, as Grafana does.
func refID(n int) string {
	return string(rune('A' + n))
}

// targets gives the queries their reference IDs in order.
func targets(queries ...*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	built := make([]cog.Builder[variants.Dataquery], len(queries))
	for i, q := range queries {
		built[i] = q.RefId(refID(i))
	}
	return built
}

// threshold is one step of a threshold scale: from value up, use color.
type threshold struct {
	value float64
	color string
}

// thresholds returns an absolute scale that starts at base and changes
// colour at each step.
func thresholds(base string, steps ...threshold) *dashboard.ThresholdsConfigBuilder {
	all := []dashboard.Threshold{{Color: base}}
	for _, s := range steps {
		all = append(all, dashboard.Threshold{Value: cog.ToPtr(s.value), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(all)
}

// anyIsBad is the scale of counts where any value above zero needs attention.
func anyIsBad() *dashboard.ThresholdsConfigBuilder {
	return thresholds(colorOK, threshold{1, colorCritical})
}

// neutral is the scale of values that are neither good nor bad.
func neutral() *dashboard.ThresholdsConfigBuilder {
	return thresholds(colorOK)
}

// valueText maps exact values to text, such as 1 to "yes".
func valueText(texts map[string]string) []dashboard.ValueMapping {
	options := make(map[string]dashboard.ValueMappingResult, len(texts))
	for value, text := range texts {
		options[value] = dashboard.ValueMappingResult{Text: cog.ToPtr(text)}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: options}}}
}

// statPanel returns a stat panel that shows the latest value of its query
// with a sparkline, coloured by its thresholds.
func statPanel(title, description, unit string, q *prometheus.DataqueryBuilder, scale *dashboard.ThresholdsConfigBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasourceRef()).
		Targets(targets(q)).
		Unit(unit).
		Thresholds(scale).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		Orientation(common.VizOrientationAuto).
		Height(4).
		Span(4)
}

// timeseriesPanel returns a line chart whose legend table shows the last and
// the maximum value of each series.
func timeseriesPanel(title, description, unit string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasourceRef()).
		Targets(targets(queries...)).
		Unit(unit).
		Min(0).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"}).
			SortBy("Last *").
			SortDesc(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		Height(8).
		Span(12)
}

// withThresholdLines draws the thresholds of a time series panel as dashed
// lines, so that a series that crosses an alert threshold is easy to see.
func withThresholdLines(panel *timeseries.PanelBuilder, scale *dashboard.ThresholdsConfigBuilder) *timeseries.PanelBuilder {
	return panel.
		Thresholds(scale).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

// asStackedBars draws counts of events per interval as stacked bars.
func asStackedBars(panel *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return panel.
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// column is one value column of a table panel: the instant query that fills
// it, its header, unit and optional colouring.
type column struct {
	header string
	expr   string
	unit   string
	// scale colours the cell background when set.
	scale    *dashboard.ThresholdsConfigBuilder
	mappings []dashboard.ValueMapping
	// labelsOnly hides the value, for queries such as an _info metric that
	// contribute only their labels.
	labelsOnly bool
}

// labelLink turns the cells of a label column into links.
type labelLink struct {
	field string
	title string
	url   string
}

// hiddenLabels are the labels of the scrape target, which do not describe
// the object of a table row.
var hiddenLabels = []string{"Time", "__name__", "job", "instance", "endpoint", "service", "pod", "container"}

// tablePanel returns a table with one row per label set and one value column
// per column. Each column is an instant query; the merge transformation
// joins their rows on the labels they share.
func tablePanel(title, description string, columns []column, links ...labelLink) *table.PanelBuilder {
	exclude := make(map[string]bool, len(hiddenLabels))
	for _, l := range hiddenLabels {
		exclude[l] = true
	}

	queries := make([]*prometheus.DataqueryBuilder, len(columns))
	rename := make(map[string]string, len(columns))
	for i, c := range columns {
		expr := c.expr
		valueField := "Value"
		if len(columns) > 1 {
			// Merge joins rows only where every label column the queries
			// share is equal, and __name__ differs between queries, so each
			// query drops it.
			expr = "max without () (" + expr + ")"
			valueField = "Value #" + refID(i)
		}
		queries[i] = instantTableQuery(expr)
		if c.labelsOnly {
			exclude[valueField] = true
			continue
		}
		rename[valueField] = c.header
	}

	panel := table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasourceRef()).
		Targets(targets(queries...)).
		Unit(units.Short).
		Height(10).
		Span(24)
	if len(columns) > 1 {
		panel.WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
	}
	panel.WithTransformation(dashboard.DataTransformerConfig{
		Id:      "organize",
		Options: map[string]any{"excludeByName": exclude, "renameByName": rename},
	})

	for _, c := range columns {
		if c.labelsOnly {
			continue
		}
		properties := []dashboard.DynamicConfigValue{{Id: "unit", Value: c.unit}}
		if c.scale != nil {
			scale, err := c.scale.Build()
			if err != nil {
				panel.RecordError("column "+c.header, err)
			}
			properties = append(properties,
				dashboard.DynamicConfigValue{Id: "thresholds", Value: scale},
				dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": string(common.TableCellDisplayModeColorBackground)}},
			)
		}
		if c.mappings != nil {
			properties = append(properties, dashboard.DynamicConfigValue{Id: "mappings", Value: c.mappings})
		}
		panel.OverrideByName(c.header, properties)
	}
	for _, l := range links {
		panel.OverrideByName(l.field, []dashboard.DynamicConfigValue{{
			Id:    "links",
			Value: []map[string]any{{"title": l.title, "url": l.url}},
		}})
	}
	return panel
}

// runsLink opens the Runs dashboard for the namespace and workload of a
// table row, keeping the data source, cluster and time range.
func runsLink(workloadField string) labelLink {
	return labelLink{
		field: workloadField,
		title: "Runs of ${__data.fields." + workloadField + "}",
		url: "/d/" + uidOf("runs") + "?${__url_time_range}&${datasource:queryparam}&${cluster:queryparam}" +
			"&var-namespace=${__data.fields.namespace}&var-workload=${__data.fields." + workloadField + "}",
	}
}

// retryBudgetUsed selects the share of the retry limit each active run used,
// recorded by the rule BatchRetryBudgetLow reads. Runs with a retry limit of
// 0 have no series.
func retryBudgetUsed(s selectors) string {
	return s.workload("namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit")
}

func deadlineScale(cfg Config) *dashboard.ThresholdsConfigBuilder {
	return thresholds(colorOK, threshold{cfg.DeadlineWarningRatio, colorWarning}, threshold{deadlineRatio, colorCritical})
}

func retryScale(cfg Config) *dashboard.ThresholdsConfigBuilder {
	return thresholds(colorOK, threshold{cfg.RetryBudgetRatio, colorCritical})
}

func backlogScale(cfg Config) *dashboard.ThresholdsConfigBuilder {
	return thresholds(colorOK, threshold{time.Duration(cfg.BacklogStuckAfter).Seconds(), colorCritical})
}

// deadlineDescription completes the description of a deadline utilisation
// panel with what the thresholds mean.
func deadlineDescription(subject string, cfg Config) string {
	return fmt.Sprintf("%s: elapsed time divided by spec.activeDeadlineSeconds, as a ratio. Orange from %s means the run is close to being killed (BatchRunNearDeadline); red at %s means the controller should terminate it and mark it failed (BatchRunPastDeadline).",
		subject, percent(cfg.DeadlineWarningRatio), percent(deadlineRatio))
}

func retryDescription(subject string, cfg Config) string {
	return fmt.Sprintf("%s: batchwatch_run_retries divided by batchwatch_run_retry_limit, as a ratio, recorded as namespace_kind_name_workload:batchwatch_run_retries:ratio_to_limit by the batchwatch rules. Red from %s means a few more failed attempts fail the run (BatchRetryBudgetLow).",
		subject, percent(cfg.RetryBudgetRatio))
}

func backlogDescription(subject string, cfg Config) string {
	return fmt.Sprintf("%s. Red from %s means a run is stuck waiting to start (BatchBacklogStuck): check the queue, quotas and unschedulable pods. Backlog series have no workload label, so the workload variable does not apply.",
		subject, cfg.BacklogStuckAfter)
}

// percent formats a ratio as a percentage for descriptions, such as 80%.
func percent(ratio float64) string {
	return fmt.Sprintf("%g%%", ratio*100)
}
