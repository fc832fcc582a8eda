package main

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testModel = &modelOptions{scheduleGrace: 5 * time.Minute, defaultTimeZone: "UTC"}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestEvaluateGolden(t *testing.T) {
	tests := []struct {
		name   string
		files  []string
		now    string
		golden string
	}{
		{
			name:   "namespace dump with schedules",
			files:  []string{"testdata/batch-namespace.yaml"},
			now:    "2026-12-04T00:20:00Z",
			golden: "testdata/batch-namespace.prom",
		},
		{
			name:   "standalone jobs and pods",
			files:  []string{"testdata/batch-jobs.yaml"},
			now:    "2026-12-04T00:20:00Z",
			golden: "testdata/batch-jobs.prom",
		},
		{
			name:   "same dump as JSON",
			files:  []string{"testdata/batch-namespace.json"},
			now:    "2026-12-04T00:20:00Z",
			golden: "testdata/batch-namespace.prom",
		},
		{
			name:   "later instant misses the daily slot",
			files:  []string{"testdata/batch-namespace.yaml"},
			now:    "2026-12-05T00:30:00Z",
			golden: "testdata/batch-namespace-next-day.prom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := evaluate(&out, tt.files, at(t, tt.now), testModel, discardLogger())
			require.NoError(t, err)

			if *update && !strings.Contains(tt.name, "JSON") {
				require.NoError(t, os.WriteFile(tt.golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(tt.golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())

			problems, err := promlint.New(bytes.NewReader(out.Bytes())).Lint()
			require.NoError(t, err)
			assert.Empty(t, problems)
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}

	tests := []struct {
		name    string
		file    string
		wantErr []string
	}{
		{
			name:    "missing file",
			file:    filepath.Join(dir, "absent.yaml"),
			wantErr: []string{"absent.yaml", "no such file"},
		},
		{
			name:    "invalid YAML in second document",
			file:    write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\nkind: [unclosed\n"),
			wantErr: []string{"broken.yaml", "document 2", "invalid YAML or JSON"},
		},
		{
			name:    "field of the wrong type",
			file:    write("wrong-type.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a, namespace: b}\nspec: {backoffLimit: three}\n"),
			wantErr: []string{"wrong-type.yaml", "document 1", "Job b/a"},
		},
		{
			name:    "object without kind",
			file:    write("no-kind.yaml", "apiVersion: v1\nmetadata: {name: a}\n"),
			wantErr: []string{"no-kind.yaml", "document 1", "no kind"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := evaluate(&out, []string{tt.file}, at(t, "2026-12-04T00:20:00Z"), testModel, discardLogger())
			require.Error(t, err)
			for _, part := range tt.wantErr {
				assert.Contains(t, err.Error(), part)
			}
			assert.Empty(t, out.String(), "nothing printed on error")
		})
	}
}

func TestEvaluateWarnsAboutUnknownKinds(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	var out bytes.Buffer

	err := evaluate(&out, []string{"testdata/batch-jobs.yaml"}, at(t, "2026-12-04T00:20:00Z"), testModel, logger)

	require.NoError(t, err)
	assert.Contains(t, logs.String(), "skipping object of a kind batchwatch does not read")
	assert.Contains(t, logs.String(), "ConfigMap batch/report-config")
}

func TestEvaluateCommandLine(t *testing.T) {
	err := run([]string{"evaluate", "-f", "testdata/batch-jobs.yaml", "--now", "yesterday"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid --now")

	err = run([]string{"evaluate", "-f", "testdata/batch-jobs.yaml", "--default-timezone", "Mars/Olympus_Mons"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid --default-timezone")
}

func at(t *testing.T, value string) time.Time {
	t.Helper()
	parsed, err := time.Parse(time.RFC3339, value)
	require.NoError(t, err)
	return parsed
}
