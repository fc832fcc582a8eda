package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/batchwatch/batchwatch/collector"
	"github.com/batchwatch/batchwatch/internal/kube"
	"github.com/batchwatch/batchwatch/internal/manifest"
)

func registerEvaluate(app *kingpin.Application) (string, action) {
	cmd := app.Command("evaluate", "Print the metrics of objects read from YAML or JSON files, as a scrape would at --now.")
	files := cmd.Flag("filename", "File of objects, as written by 'kubectl get cronjobs,jobs,pods -A -o yaml' (or with cronworkflows, workflows, scheduledsparkapplications and sparkapplications) or a multi-document manifest; repeatable.").
		Short('f').Required().Strings()
	nowFlag := cmd.Flag("now", "Instant to evaluate at, in RFC 3339 (2026-12-04T08:00:00Z); defaults to the current time.").String()
	model := addModelFlags(cmd)

	return cmd.FullCommand(), func(logger *slog.Logger) error {
		if err := model.validate(); err != nil {
			return err
		}
		now := time.Now()
		if *nowFlag != "" {
			parsed, err := time.Parse(time.RFC3339, *nowFlag)
			if err != nil {
				return fmt.Errorf("invalid --now %q: want RFC 3339 such as 2026-12-04T08:00:00Z: %w", *nowFlag, err)
			}
			now = parsed
		}
		return evaluate(os.Stdout, *files, now, model, logger)
	}
}

// evaluate reads the files and writes their metrics at now to out.
func evaluate(out io.Writer, files []string, now time.Time, model *modelOptions, logger *slog.Logger) error {
	var objs manifest.Objects
	for _, path := range files {
		if err := objs.ReadFile(path); err != nil {
			return err
		}
	}
	for _, skipped := range objs.Skipped {
		logger.Warn("skipping object of a kind batchwatch does not read", "object", skipped)
	}

	registry, err := evaluationRegistry(&objs, now, model, logger)
	if err != nil {
		return err
	}
	return writeMetrics(out, registry)
}

// evaluationRegistry runs the serve collector over objects read from files,
// with the clock stopped at now. Every finished run in the files counts as
// observed.
func evaluationRegistry(objs *manifest.Objects, now time.Time, model *modelOptions, logger *slog.Logger) (*prometheus.Registry, error) {
	recorder := collector.NewRecorder(time.Time{})
	source, err := kube.StaticSource(objs.CronJobs, objs.Jobs, objs.Pods, recorder, model.defaultTimeZone, logger)
	if err != nil {
		return nil, err
	}
	unexpected := collector.NewUnexpectedObjects()
	engines, err := kube.StaticCustomResources(objs.CustomResources, recorder, unexpected, model.defaultTimeZone, logger)
	if err != nil {
		return nil, err
	}

	registry := prometheus.NewPedanticRegistry()
	err = registry.Register(collector.New(collector.Options{
		Sources:         append([]collector.Source{source}, engines...),
		Recorder:        recorder,
		Clock:           clocktesting.NewFakePassiveClock(now),
		ScheduleGrace:   model.scheduleGrace,
		DefaultTimeZone: model.defaultTimeZone,
		Logger:          logger,
	}))
	if err != nil {
		return nil, fmt.Errorf("register collector: %w", err)
	}
	if err := registry.Register(unexpected); err != nil {
		return nil, fmt.Errorf("register unexpected objects counter: %w", err)
	}
	return registry, nil
}

func writeMetrics(out io.Writer, registry *prometheus.Registry) error {
	families, err := registry.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	encoder := expfmt.NewEncoder(out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, family := range families {
		if err := encoder.Encode(family); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}
