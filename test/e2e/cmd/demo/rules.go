//go:build e2e

package main

import (
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"

	"github.com/batchwatch/batchwatch/rules"
)

const (
	// demoFor is the longest `for` duration of any alert in the demo. The
	// committed rules wait 5m or 15m, which would keep a first-time viewer
	// waiting.
	demoFor = 30 * time.Second
	// demoBacklogMaxWait is how long the oldest queued run may wait before
	// BatchBacklogStuck fires in the demo. The committed rules use 1h.
	demoBacklogMaxWait = 2 * time.Minute
)

// writeDemoRules writes the alert pack with the demo's shorter durations to
// path. Every other option keeps the default that produces
// rules/generated/batchwatch.rules.yaml.
func writeDemoRules(path string) error {
	cfg := rules.DefaultConfig()
	for name, d := range cfg.For {
		cfg.For[name] = min(d, model.Duration(demoFor))
	}
	cfg.BacklogMaxWait = model.Duration(demoBacklogMaxWait)

	files, err := rules.Files(*cfg)
	if err != nil {
		return fmt.Errorf("generate the demo rules: %w", err)
	}
	if err := os.WriteFile(path, files[rules.RuleFilePath], 0o644); err != nil {
		return fmt.Errorf("write the demo rules: %w", err)
	}
	return nil
}
