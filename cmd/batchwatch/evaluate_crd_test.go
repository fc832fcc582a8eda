package main

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvaluateCustomResourcesGolden(t *testing.T) {
	tests := []struct {
		name   string
		files  []string
		now    string
		golden string
	}{
		{
			name:   "argo and spark namespace dump",
			files:  []string{"testdata/argo-spark.yaml"},
			now:    "2026-12-04T20:00:00Z",
			golden: "testdata/argo-spark.prom",
		},
		{
			name:   "after the next morning slots",
			files:  []string{"testdata/argo-spark.yaml"},
			now:    "2026-12-05T08:00:00Z",
			golden: "testdata/argo-spark-next-morning.prom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := evaluate(&out, tt.files, at(t, tt.now), testModel, discardLogger())
			require.NoError(t, err)

			if *update {
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

func TestEvaluateLogsMalformedCustomResource(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var out bytes.Buffer

	err := evaluate(&out, []string{"testdata/argo-spark.yaml"}, at(t, "2026-12-04T20:00:00Z"), testModel, logger)

	require.NoError(t, err)
	assert.Contains(t, logs.String(), "custom resource has a field of the wrong type; skipping it")
	assert.Contains(t, logs.String(), "name=hand-written")
	assert.NotContains(t, out.String(), `name="hand-written"`, "the malformed workflow has no series")
	assert.Contains(t, out.String(), `batchwatch_unexpected_objects_total{reason="invalid_field",resource="workflows"} 1`)
}
