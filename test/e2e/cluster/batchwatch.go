package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"
)

// buildOnce builds batchwatch once per process: every test runs the same
// binary, built from the working tree.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

// BuildBatchwatch builds ./cmd/batchwatch from the working tree into the
// tool folder and returns its path.
func BuildBatchwatch(ctx context.Context) (string, error) {
	buildOnce.Do(func() {
		root, err := RepositoryRoot()
		if err != nil {
			buildOnce.err = err
			return
		}
		dir, err := BinDir()
		if err != nil {
			buildOnce.err = err
			return
		}
		path := filepath.Join(dir, "batchwatch")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/batchwatch")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("build batchwatch: %w\n%s", err, out)
			return
		}
		buildOnce.path = path
	})
	return buildOnce.path, buildOnce.err
}

// StartBatchwatch runs `batchwatch serve` against the kubeconfig on a free
// port of 127.0.0.1, with extraArgs appended, and returns once /healthz
// returns 200. It does not wait for /readyz: tests that need synced caches wait
// for it themselves, and some watch it stay unready. ctx bounds the start
// only.
func StartBatchwatch(ctx context.Context, kubeconfig string, extraArgs ...string) (*Server, error) {
	path, err := BuildBatchwatch(ctx)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "batchwatch-exporter-")
	if err != nil {
		return nil, fmt.Errorf("create batchwatch folder: %w", err)
	}

	address := hostPort(ports[0])
	s := &Server{url: "http://" + address, address: address, dir: dir, logDir: filepath.Join(dir, "logs")}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		s.removeFiles()
		return nil, fmt.Errorf("create batchwatch log folder: %w", err)
	}
	args := append([]string{"serve", "--kubeconfig=" + kubeconfig, "--web.listen-address=" + address, "--log.level=debug"}, extraArgs...)
	s.proc = &process{name: "batchwatch", path: path, args: args, logPath: filepath.Join(s.logDir, "batchwatch.log")}
	if err := register(s); err != nil {
		s.removeFiles()
		return nil, err
	}
	if err := s.proc.start(); err != nil {
		s.abort()
		unregister(s)
		return nil, err
	}
	if err := waitReady(ctx, s.proc, componentTimeout, httpCheck(plainClient(), s.url+"/healthz")); err != nil {
		s.abort()
		unregister(s)
		return nil, fmt.Errorf("start batchwatch: %w (log kept in %s)", err, s.logDir)
	}
	return s, nil
}

// Ready reports whether the server's /readyz returns 200.
func (s *Server) Ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := plainClient().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Scrape fetches /metrics and returns the metric families by name.
func (s *Server) Scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := plainClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("scrape %s: status %s: %s", s.url, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse scrape of %s: %w", s.url, err)
	}
	return families, nil
}

// Sample returns the value of the series of family name whose labels
// include every pair of match, and whether one exists.
func Sample(families map[string]*dto.MetricFamily, name string, match map[string]string) (float64, bool) {
	family, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range family.GetMetric() {
		if !labelsMatch(m.GetLabel(), match) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func labelsMatch(pairs []*dto.LabelPair, match map[string]string) bool {
	for name, value := range match {
		found := false
		for _, p := range pairs {
			if p.GetName() == name && p.GetValue() == value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
