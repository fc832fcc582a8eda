//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/wait"
)

// webhookMessage is the JSON body that Alertmanager's webhook integration
// posts (version 4 of its payload).
type webhookMessage struct {
	Version     string            `json:"version"`
	Receiver    string            `json:"receiver"`
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// notification is one webhook message and the time the receiver got it.
type notification struct {
	Received time.Time
	Message  webhookMessage
}

// webhookReceiver is an HTTP server on 127.0.0.1 that records every message
// Alertmanager posts to it.
type webhookReceiver struct {
	server *httptest.Server

	mu            sync.Mutex
	notifications []notification
	errors        []string
}

// startWebhookReceiver starts a receiver that is closed when the test ends.
// httptest listens on 127.0.0.1 on a free port.
func startWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	r := &webhookReceiver{}
	r.server = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(func() {
		r.server.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, message := range r.errors {
			t.Errorf("webhook receiver: %s", message)
		}
	})
	return r
}

func (r *webhookReceiver) handle(w http.ResponseWriter, req *http.Request) {
	received := time.Now()
	var message webhookMessage
	err := json.NewDecoder(req.Body).Decode(&message)

	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors = append(r.errors, fmt.Sprintf("invalid message body from %s: %v", req.RemoteAddr, err))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.notifications = append(r.notifications, notification{Received: received, Message: message})
}

// URL returns the address that Alertmanager posts to.
func (r *webhookReceiver) URL() string {
	return r.server.URL + "/hook"
}

// find returns the first notification received after since that carries an
// alert with the given status whose labels include every pair of match.
func (r *webhookReceiver) find(since time.Time, status string, match map[string]string) (notification, webhookAlert, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notifications {
		if n.Received.Before(since) {
			continue
		}
		for _, alert := range n.Message.Alerts {
			if alert.Status == status && includesLabels(alert.Labels, match) {
				return n, alert, true
			}
		}
	}
	return notification{}, webhookAlert{}, false
}

// waitFor polls until an alert with the given status and labels arrives
// after since, and returns it with its notification.
func (r *webhookReceiver) waitFor(t *testing.T, since time.Time, timeout time.Duration, status string, match map[string]string) (notification, webhookAlert) {
	t.Helper()
	var found notification
	var alert webhookAlert
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var ok bool
		found, alert, ok = r.find(since, status, match)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("no %s notification for an alert with labels %v within %s. Received: %s", status, match, timeout, r.summary())
	}
	return found, alert
}

// summary lists the received alerts, one per line, for failure messages.
func (r *webhookReceiver) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notifications) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for _, n := range r.notifications {
		for _, alert := range n.Message.Alerts {
			fmt.Fprintf(&b, "\n  %s receiver=%s %s %v", n.Received.Format(time.TimeOnly), n.Message.Receiver, alert.Status, alert.Labels)
		}
	}
	return b.String()
}

func includesLabels(labels, match map[string]string) bool {
	for name, value := range match {
		if labels[name] != value {
			return false
		}
	}
	return true
}

// alertmanagerConfigWithReceiver reads the Alertmanager configuration at
// path and replaces the URL of every webhook integration with webhookURL.
// routeOverrides replace settings of the top-level route, which the
// sub-routes inherit unless they set their own. Everything else, routing,
// grouping and inhibition, stays as the file has it. A receiver with any
// integration other than a webhook fails the test, because Alertmanager
// would then send notifications to hosts outside this machine.
func alertmanagerConfigWithReceiver(t *testing.T, path, webhookURL string, routeOverrides map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read Alertmanager configuration: %v", err)
	}
	var config map[string]any
	if err := yaml.Unmarshal(data, &config); err != nil {
		t.Fatalf("parse Alertmanager configuration %s: %v", path, err)
	}

	receivers, ok := config["receivers"].([]any)
	if !ok || len(receivers) == 0 {
		t.Fatalf("Alertmanager configuration %s: no receivers list", path)
	}
	rewritten := 0
	for _, item := range receivers {
		receiver, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("Alertmanager configuration %s: receiver %v is not a mapping", path, item)
		}
		for key, value := range receiver {
			if key == "name" {
				continue
			}
			if key != "webhook_configs" {
				t.Fatalf("Alertmanager configuration %s: receiver %v has %s, but only webhook_configs can be pointed at the local receiver", path, receiver["name"], key)
			}
			webhooks, ok := value.([]any)
			if !ok {
				t.Fatalf("Alertmanager configuration %s: receiver %v: webhook_configs is not a list", path, receiver["name"])
			}
			for _, webhook := range webhooks {
				webhookConfig, ok := webhook.(map[string]any)
				if !ok {
					t.Fatalf("Alertmanager configuration %s: receiver %v: webhook config %v is not a mapping", path, receiver["name"], webhook)
				}
				delete(webhookConfig, "url_file")
				webhookConfig["url"] = webhookURL
				rewritten++
			}
		}
	}
	if rewritten == 0 {
		t.Fatalf("Alertmanager configuration %s: no webhook_configs to point at the local receiver", path)
	}

	route, ok := config["route"].(map[string]any)
	if !ok {
		t.Fatalf("Alertmanager configuration %s: no top-level route", path)
	}
	for key, value := range routeOverrides {
		if _, ok := route[key]; !ok {
			t.Fatalf("Alertmanager configuration %s: the route has no %s to override", path, key)
		}
		route[key] = value
	}

	out, err := yaml.Marshal(config)
	if err != nil {
		t.Fatalf("encode Alertmanager configuration: %v", err)
	}
	return string(out)
}

// alertmanagerCounter returns the sum of the series of the counter name on
// Alertmanager's /metrics whose labels include every pair of match, or 0
// when there is none.
func alertmanagerCounter(ctx context.Context, alertmanagerURL, name string, match map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, alertmanagerURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape Alertmanager: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape Alertmanager: status %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("parse Alertmanager metrics: %w", err)
	}

	var sum float64
	for _, m := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, pair := range m.GetLabel() {
			labels[pair.GetName()] = pair.GetValue()
		}
		if includesLabels(labels, match) {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, nil
}
