//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

func TestPrometheusAlertsReachAlertmanager(t *testing.T) {
	ctx := t.Context()

	alertmanager, err := cluster.StartAlertmanager(ctx, `
route:
  receiver: discard
  group_wait: 1s
receivers:
  - name: discard
`)
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, alertmanager)

	rules := filepath.Join(t.TempDir(), "always-firing.yaml")
	err = os.WriteFile(rules, []byte(`
groups:
  - name: smoke
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: info
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	prometheus, err := cluster.StartPrometheus(ctx, fmt.Sprintf(`
global:
  scrape_interval: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%[1]q]
scrape_configs:
  - job_name: alertmanager
    static_configs:
      - targets: [%[1]q]
`, alertmanager.Address()), []string{rules})
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopOnCleanup(t, prometheus)

	var up string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var response struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		query := prometheus.URL() + "/api/v1/query?query=" + url.QueryEscape(`up{job="alertmanager"}`)
		if err := getJSON(ctx, query, &response); err != nil || len(response.Data.Result) != 1 || len(response.Data.Result[0].Value) != 2 {
			return false, nil
		}
		up, _ = response.Data.Result[0].Value[1].(string)
		return up == "1", nil
	})
	if err != nil {
		t.Errorf("up{job=\"alertmanager\"} = %q, want \"1\": %v", up, err)
	}

	var generatorURL string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var alerts []struct {
			Labels       map[string]string `json:"labels"`
			GeneratorURL string            `json:"generatorURL"`
		}
		if err := getJSON(ctx, alertmanager.URL()+"/api/v2/alerts", &alerts); err != nil {
			return false, nil
		}
		for _, alert := range alerts {
			if alert.Labels["alertname"] == "AlwaysFiring" {
				generatorURL = alert.GeneratorURL
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("alert AlwaysFiring never reached Alertmanager: %v", err)
	}
	// The link in the alert comes from --web.external-url.
	if !strings.HasPrefix(generatorURL, prometheus.URL()+"/") {
		t.Errorf("alert generatorURL %q, want it under %s", generatorURL, prometheus.URL())
	}
}

func getJSON(ctx context.Context, address string, target any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", address, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(target)
}
