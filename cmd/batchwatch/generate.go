package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/alecthomas/kingpin/v2"

	"github.com/batchwatch/batchwatch/collector"
	"github.com/batchwatch/batchwatch/dashboards"
	"github.com/batchwatch/batchwatch/rules"
)

func registerGenerate(app *kingpin.Application) (string, action) {
	cmd := app.Command("generate", "Write the alert rules, the PrometheusRule, the dashboards and docs/metrics.md.")
	outputDir := cmd.Flag("output.dir", "Directory the generated files are written under, normally the repository root.").Default(".").String()
	check := cmd.Flag("check", "Compare the files on disk with what would be generated and fail if any differs, writing nothing.").Bool()

	ruleConfig := rules.DefaultConfig()
	ruleConfig.AddFlags(cmd)
	dashboardConfig := dashboards.DefaultConfig()
	dashboardConfig.AddFlags(cmd)

	return cmd.FullCommand(), func(*slog.Logger) error {
		files := map[string][]byte{"docs/metrics.md": collector.MetricsDoc()}

		dashboardConfig.UseRules(ruleConfig)
		ruleFiles, err := rules.Files(*ruleConfig)
		if err != nil {
			return fmt.Errorf("generate rules: %w", err)
		}
		dashboardFiles, err := dashboards.Files(*dashboardConfig)
		if err != nil {
			return fmt.Errorf("generate dashboards: %w", err)
		}
		for _, generated := range []map[string][]byte{ruleFiles, dashboardFiles} {
			for path, content := range generated {
				files[path] = content
			}
		}

		if *check {
			return checkGenerated(*outputDir, files)
		}
		return writeGenerated(*outputDir, files)
	}
}

func sortedPaths(files map[string][]byte) []string {
	paths := make([]string, 0, len(files))
	for path := range files {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	return paths
}

func writeGenerated(root string, files map[string][]byte) error {
	for _, path := range sortedPaths(files) {
		target := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", path, err)
		}
		if err := os.WriteFile(target, files[path], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// checkGenerated reports every generated file that is missing or differs, so
// CI names all stale files in one run.
func checkGenerated(root string, files map[string][]byte) error {
	var stale []error
	for _, path := range sortedPaths(files) {
		onDisk, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
		switch {
		case err != nil:
			stale = append(stale, fmt.Errorf("%s: %w", path, err))
		case !bytes.Equal(onDisk, files[path]):
			stale = append(stale, fmt.Errorf("%s differs from the generated content; run 'make generate'", path))
		}
	}
	return errors.Join(stale...)
}
