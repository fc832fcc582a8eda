//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/batchwatch/batchwatch/rules"
)

// ruleAnnotations are the annotations of one alerting rule as generated.
type ruleAnnotations struct {
	Summary    string
	RunbookURL string
}

// writeAlertingRules generates the rule file from rules.DefaultConfig with
// the `for` durations in forDurations, and writes it into a temporary
// folder. It returns the file's path, the configuration and the annotations
// of every alert, keyed by alert name and severity.
func writeAlertingRules(t *testing.T, forDurations map[string]time.Duration) (string, *rules.Config, map[[2]string]ruleAnnotations) {
	t.Helper()
	cfg := rules.DefaultConfig()
	for name, d := range forDurations {
		if _, ok := cfg.For[name]; !ok {
			t.Fatalf("rules.DefaultConfig has no 'for' duration for alert %s", name)
		}
		cfg.For[name] = model.Duration(d)
	}
	files, err := rules.Files(*cfg)
	if err != nil {
		t.Fatalf("generate rules: %v", err)
	}
	ruleFile, ok := files[rules.RuleFilePath]
	if !ok {
		t.Fatalf("rules.Files returned no %s", rules.RuleFilePath)
	}
	path := filepath.Join(t.TempDir(), "batchwatch.rules.yaml")
	if err := os.WriteFile(path, ruleFile, 0o644); err != nil {
		t.Fatalf("write rule file: %v", err)
	}

	var parsed struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(ruleFile, &parsed); err != nil {
		t.Fatalf("parse generated rule file: %v", err)
	}
	annotations := map[[2]string]ruleAnnotations{}
	for _, group := range parsed.Groups {
		for _, rule := range group.Rules {
			if rule.Alert == "" {
				continue
			}
			annotations[[2]string{rule.Alert, rule.Labels["severity"]}] = ruleAnnotations{
				Summary:    rule.Annotations["summary"],
				RunbookURL: rule.Annotations["runbook_url"],
			}
		}
	}
	return path, cfg, annotations
}
