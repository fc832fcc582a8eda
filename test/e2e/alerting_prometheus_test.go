//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// promSample is one sample of an instant vector returned by the Prometheus
// HTTP API.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// queryPrometheus runs expr as an instant query at the current time through
// GET /api/v1/query and returns the samples of the vector result. Prometheus
// errors (bad syntax, wrong types) and non-vector results are errors.
func queryPrometheus(ctx context.Context, prometheusURL, expr string) ([]promSample, error) {
	address := prometheusURL + "/api/v1/query?query=" + url.QueryEscape(expr)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("query %q: read response: %w", expr, err)
	}

	var response struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &response); err != nil {
		return nil, fmt.Errorf("query %q: status %s, invalid JSON response: %w", expr, resp.Status, err)
	}
	if response.Status != "success" {
		return nil, fmt.Errorf("query %q: status %s, %s: %s", expr, resp.Status, response.ErrorType, response.Error)
	}
	if response.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", expr, response.Data.ResultType)
	}

	samples := make([]promSample, 0, len(response.Data.Result))
	for _, r := range response.Data.Result {
		text, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query %q: sample value %v is not a string", expr, r.Value[1])
		}
		value, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: invalid sample value %q: %w", expr, text, err)
		}
		samples = append(samples, promSample{Metric: r.Metric, Value: value})
	}
	return samples, nil
}

// batchwatchScrapeConfig returns a Prometheus configuration that scrapes
// batchwatch at exporterAddress as job "batchwatch", the job the generated
// rules and dashboards select, and evaluates rules every 5 s. When
// alertmanagerAddress is not empty, Prometheus sends its alerts there.
func batchwatchScrapeConfig(exporterAddress, alertmanagerAddress string) string {
	config := fmt.Sprintf(`
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: batchwatch
    static_configs:
      - targets: [%q]
`, exporterAddress)
	if alertmanagerAddress != "" {
		config += fmt.Sprintf(`
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
`, alertmanagerAddress)
	}
	return config
}

// waitForPromQuery polls expr until check accepts its samples and returns
// them. It fails the test after timeout with the last samples or error.
func waitForPromQuery(t *testing.T, prometheusURL, expr string, timeout time.Duration, want string, check func([]promSample) bool) []promSample {
	t.Helper()
	var last []promSample
	var lastErr error
	err := wait.PollUntilContextTimeout(t.Context(), time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		last, lastErr = queryPrometheus(ctx, prometheusURL, expr)
		return lastErr == nil && check(last), nil
	})
	if err != nil {
		t.Fatalf("query %s: no %s within %s: last samples %v, last error %v", expr, want, timeout, last, lastErr)
	}
	return last
}

// anySampleAtLeast returns a check that accepts samples when one of them is
// at least minimum.
func anySampleAtLeast(minimum float64) func([]promSample) bool {
	return func(samples []promSample) bool {
		for _, s := range samples {
			if s.Value >= minimum {
				return true
			}
		}
		return false
	}
}
