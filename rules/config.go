package rules

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
)

// Config holds the generator options. DefaultConfig returns the values that
// produce the committed files, and AddFlags adds a flag for each field.
type Config struct {
	// Selector contains the label matchers, without braces, that select
	// batchwatch series in every rule. It must select the exporter's scrape
	// target, because BatchwatchDown reads up{Selector}.
	Selector string
	// RunbookURLBase is the runbook document. Each alert links to
	// RunbookURLBase + "#" + the lower-cased alert name.
	RunbookURLBase string
	// ExtraLabels are added to the labels of every alert, for example a team
	// label that Alertmanager routes on.
	ExtraLabels map[string]string
	// For is the `for` duration of each alert, keyed by alert name. Both
	// severities of BatchWorkloadFailing share one entry.
	For map[string]model.Duration

	// DeadlineWarningRatio is the deadline utilization, elapsed time divided
	// by activeDeadlineSeconds, at which BatchRunNearDeadline fires.
	DeadlineWarningRatio float64
	// RetryBudgetRatio is the share of the retry limit an active run has used
	// when BatchRetryBudgetLow fires.
	RetryBudgetRatio float64
	// FailingCriticalStreak is the number of consecutive failed runs at which
	// BatchWorkloadFailing fires at critical severity.
	FailingCriticalStreak int
	// NoRecentSuccessGrace is added to two schedule intervals to give the age
	// of the last success at which BatchWorkloadNoRecentSuccess fires. It
	// covers controller delay and the spread of run durations.
	NoRecentSuccessGrace model.Duration
	// IntervalLookback is the window over which the longest schedule interval
	// is taken for BatchWorkloadNoRecentSuccess. A schedule with uneven slots
	// (weekdays only, monthly) keeps its long interval for this long after
	// the slot that ends it, so a run that starts after a long gap has this
	// long to succeed before the shorter interval applies. It should exceed
	// the longest run duration.
	IntervalLookback model.Duration
	// SkippedWindow is the window in which an increase of
	// batchwatch_schedule_skipped_runs_total keeps BatchScheduleSkipped
	// active.
	SkippedWindow model.Duration
	// BacklogMaxWait is the wait of the oldest run waiting to start at which
	// BatchBacklogStuck fires.
	BacklogMaxWait model.Duration
	// RunStatsWindow is the window of the per-workload recording rules over
	// finished runs (outcomes, duration quantiles, pod failures).
	RunStatsWindow model.Duration
	// DurationQuantiles are the quantiles of the run duration recording rule.
	DurationQuantiles []float64
}

// DefaultConfig returns the options that produce the committed files.
func DefaultConfig() *Config {
	return &Config{
		Selector:       `job="batchwatch"`,
		RunbookURLBase: "https://github.com/batchwatch/batchwatch/blob/main/docs/runbooks.md",
		ExtraLabels:    map[string]string{},
		For:            defaultFor(),

		DeadlineWarningRatio:  0.8,
		RetryBudgetRatio:      0.8,
		FailingCriticalStreak: 3,
		NoRecentSuccessGrace:  model.Duration(10 * minute),
		IntervalLookback:      model.Duration(24 * hour),
		SkippedWindow:         model.Duration(hour),
		BacklogMaxWait:        model.Duration(hour),
		RunStatsWindow:        model.Duration(24 * hour),
		DurationQuantiles:     []float64{0.5, 0.9, 0.99},
	}
}

// defaultFor returns the `for` duration of every alert. The default is 15m.
// Shorter values are argued where they are set.
func defaultFor() map[string]model.Duration {
	durations := map[string]model.Duration{}
	for _, name := range alertNames {
		durations[name] = model.Duration(15 * minute)
	}
	// Deadline utilization and retries only grow while a run is active, so
	// these conditions cannot flap, and with a longer `for` a run with a
	// deadline under an hour would end before its alert fires.
	durations[alertRunNearDeadline] = model.Duration(5 * minute)
	durations[alertRunPastDeadline] = model.Duration(5 * minute)
	durations[alertRetryBudgetLow] = model.Duration(5 * minute)
	// A schedule paused for a maintenance window is normal, but one paused
	// for a week is probably forgotten. Prometheus restores the pending state of
	// long `for` durations across restarts (ALERTS_FOR_STATE).
	durations[alertScheduleSuspendedLong] = model.Duration(7 * 24 * hour)
	return durations
}

// AddFlags registers flags that override the defaults held in c.
func (c *Config) AddFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("rules.selector", "Label matchers, without braces, that select the batchwatch scrape target in every rule.").
		Default(c.Selector).StringVar(&c.Selector)
	cmd.Flag("rules.runbook-url-base", "URL of the runbook document. Each alert links to it plus '#' and the lower-cased alert name.").
		Default(c.RunbookURLBase).StringVar(&c.RunbookURLBase)
	cmd.Flag("rules.extra-label", "Label added to every alert, as NAME=VALUE. Repeatable.").
		PlaceHolder("NAME=VALUE").StringMapVar(&c.ExtraLabels)
	cmd.Flag("rules.for", "The 'for' duration of one alert, as ALERT=DURATION (for example BatchWorkloadFailing=30m). Repeatable. Defaults: "+formatFor(c.For)+".").
		PlaceHolder("ALERT=DURATION").SetValue(&forValue{durations: c.For})

	cmd.Flag("rules.deadline-warning-ratio", "Deadline utilization (elapsed time / activeDeadlineSeconds) at which BatchRunNearDeadline fires.").
		Default(formatFloat(c.DeadlineWarningRatio)).FloatVar(&c.DeadlineWarningRatio)
	cmd.Flag("rules.retry-budget-ratio", "Share of its retry limit an active run has used when BatchRetryBudgetLow fires.").
		Default(formatFloat(c.RetryBudgetRatio)).FloatVar(&c.RetryBudgetRatio)
	cmd.Flag("rules.failing-critical-streak", "Consecutive failed runs at which BatchWorkloadFailing fires at critical severity.").
		Default(fmt.Sprint(c.FailingCriticalStreak)).IntVar(&c.FailingCriticalStreak)
	cmd.Flag("rules.no-recent-success-grace", "Time added to two schedule intervals before BatchWorkloadNoRecentSuccess fires.").
		Default(c.NoRecentSuccessGrace.String()).SetValue((*durationValue)(&c.NoRecentSuccessGrace))
	cmd.Flag("rules.interval-lookback", "Window over which BatchWorkloadNoRecentSuccess takes the longest schedule interval. Set it longer than the longest run.").
		Default(c.IntervalLookback.String()).SetValue((*durationValue)(&c.IntervalLookback))
	cmd.Flag("rules.skipped-window", "Window in which skipped slots keep BatchScheduleSkipped active.").
		Default(c.SkippedWindow.String()).SetValue((*durationValue)(&c.SkippedWindow))
	cmd.Flag("rules.backlog-max-wait", "Wait of the oldest run waiting to start at which BatchBacklogStuck fires.").
		Default(c.BacklogMaxWait.String()).SetValue((*durationValue)(&c.BacklogMaxWait))
	cmd.Flag("rules.run-stats-window", "Window of the per-workload recording rules over finished runs.").
		Default(c.RunStatsWindow.String()).SetValue((*durationValue)(&c.RunStatsWindow))
}

// check returns an error for every option outside its valid range, so that a
// bad flag fails generation instead of producing rules that never fire.
func (c *Config) check() error {
	var errs []error
	if strings.TrimSpace(c.Selector) == "" {
		errs = append(errs, errors.New("invalid selector: empty, want label matchers such as job=\"batchwatch\""))
	}
	if base, err := url.Parse(c.RunbookURLBase); err != nil || !base.IsAbs() || base.Fragment != "" {
		errs = append(errs, fmt.Errorf("invalid runbook URL base %q: want an absolute URL without a fragment", c.RunbookURLBase))
	}
	for name := range c.ExtraLabels {
		if !model.LegacyValidation.IsValidLabelName(name) || name == "severity" {
			errs = append(errs, fmt.Errorf("invalid extra label name %q: want [a-zA-Z_][a-zA-Z0-9_]* other than severity", name))
		}
	}
	for _, name := range alertNames {
		if d, ok := c.For[name]; !ok || d <= 0 {
			errs = append(errs, fmt.Errorf("invalid 'for' duration of %s: missing or not positive", name))
		}
	}
	if c.DeadlineWarningRatio <= 0 || c.DeadlineWarningRatio >= 1 {
		errs = append(errs, fmt.Errorf("invalid deadline warning ratio %g: want a value between 0 and 1, exclusive", c.DeadlineWarningRatio))
	}
	if c.RetryBudgetRatio <= 0 || c.RetryBudgetRatio > 1 {
		errs = append(errs, fmt.Errorf("invalid retry budget ratio %g: want a value above 0 and at most 1", c.RetryBudgetRatio))
	}
	if c.FailingCriticalStreak < 2 {
		errs = append(errs, fmt.Errorf("invalid failing critical streak %d: want 2 or more, because 1 failed run is the warning", c.FailingCriticalStreak))
	}
	for name, d := range map[string]model.Duration{
		"no recent success grace": c.NoRecentSuccessGrace,
		"interval lookback":       c.IntervalLookback,
		"skipped window":          c.SkippedWindow,
		"backlog max wait":        c.BacklogMaxWait,
		"run stats window":        c.RunStatsWindow,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("invalid %s %s: want a positive duration", name, d))
		}
	}
	for _, q := range c.DurationQuantiles {
		if q <= 0 || q >= 1 {
			errs = append(errs, fmt.Errorf("invalid duration quantile %g: want a value between 0 and 1, exclusive", q))
		}
	}
	return errors.Join(errs...)
}

// forValue is the flag value of --rules.for: each ALERT=DURATION overrides
// one entry of the map and keeps the others.
type forValue struct {
	durations map[string]model.Duration
}

func (v *forValue) Set(value string) error {
	name, text, ok := strings.Cut(value, "=")
	if !ok {
		return fmt.Errorf("invalid value %q: want ALERT=DURATION", value)
	}
	if _, known := v.durations[name]; !known {
		return fmt.Errorf("unknown alert %q: want one of %s", name, strings.Join(alertNames, ", "))
	}
	d, err := model.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("invalid duration of %s: %w", name, err)
	}
	v.durations[name] = d
	return nil
}

func (v *forValue) String() string { return formatFor(v.durations) }

// IsCumulative makes kingpin accept the flag more than once.
func (v *forValue) IsCumulative() bool { return true }

// durationValue is a flag value in Prometheus duration syntax, which accepts
// days and weeks (7d, 1w) where time.ParseDuration does not.
type durationValue model.Duration

func (d *durationValue) Set(value string) error {
	parsed, err := model.ParseDuration(value)
	if err != nil {
		return err
	}
	*d = durationValue(parsed)
	return nil
}

func (d *durationValue) String() string { return model.Duration(*d).String() }

func formatFor(durations map[string]model.Duration) string {
	parts := make([]string, 0, len(durations))
	for _, name := range slices.Sorted(maps.Keys(durations)) {
		parts = append(parts, name+"="+durations[name].String())
	}
	return strings.Join(parts, ", ")
}
