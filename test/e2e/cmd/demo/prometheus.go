//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// prometheusAPI reads the Prometheus HTTP API (v1) of the demo's Prometheus.
type prometheusAPI struct {
	url string
}

// sample is one series of an instant vector.
type sample struct {
	Labels map[string]string
	Value  float64
}

// alert is one pending or firing alert of /api/v1/alerts.
type alert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

// apiResponse is the envelope of every Prometheus API response.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// query runs an instant query at the current time and returns the samples of
// the resulting vector.
func (p *prometheusAPI) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %q, expected vector", expr, data.ResultType)
	}

	samples := make([]sample, 0, len(data.Result))
	for _, r := range data.Result {
		text, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query %s: sample value %v is not a string", expr, r.Value[1])
		}
		value, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: invalid sample value: %w", expr, err)
		}
		samples = append(samples, sample{Labels: r.Metric, Value: value})
	}
	return samples, nil
}

// alerts returns every pending and firing alert.
func (p *prometheusAPI) alerts(ctx context.Context) ([]alert, error) {
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	if err := p.get(ctx, "/api/v1/alerts", &data); err != nil {
		return nil, err
	}
	return data.Alerts, nil
}

// reload makes Prometheus reread its configuration and rule files
// (POST /-/reload, enabled by --web.enable-lifecycle).
func (p *prometheusAPI) reload(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload Prometheus: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("reload Prometheus: status %s: %s", resp.Status, body)
	}
	return nil
}

// ruleGroups returns the number of rule groups Prometheus has loaded.
func (p *prometheusAPI) ruleGroups(ctx context.Context) (int, error) {
	var data struct {
		Groups []json.RawMessage `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", &data); err != nil {
		return 0, err
	}
	return len(data.Groups), nil
}

// get sends a GET request to path and decodes the data field of a successful
// response into target.
func (p *prometheusAPI) get(ctx context.Context, path string, target any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("GET %s: read response: %w", path, err)
	}
	var envelope apiResponse
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("GET %s: status %s, invalid JSON: %w", path, resp.Status, err)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("GET %s: status %s: %s: %s", path, resp.Status, envelope.ErrorType, envelope.Error)
	}
	if err := json.Unmarshal(envelope.Data, target); err != nil {
		return fmt.Errorf("GET %s: decode data: %w", path, err)
	}
	return nil
}
