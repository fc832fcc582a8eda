// Package rules builds batchwatch's Prometheus alerting and recording rules.
package rules

import "github.com/alecthomas/kingpin/v2"

// Config holds the generator options.
type Config struct{}

// DefaultConfig returns the options that produce the committed files.
func DefaultConfig() *Config { return &Config{} }

// AddFlags registers flags that override the defaults.
func (c *Config) AddFlags(cmd *kingpin.CmdClause) {}

// Files returns the generated files keyed by their path from the repository root.
func Files(cfg Config) (map[string][]byte, error) { return map[string][]byte{}, nil }
