//go:build e2e

// Command demo runs batchwatch on a local control plane with the sample
// workloads of examples/ and keeps a live summary of the key metrics and
// alerts on the terminal. `make demo` runs it.
//
// It starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok on 127.0.0.1, then `batchwatch serve` and a Prometheus that scrapes it
// every 10s and evaluates the alert pack with shortened `for` durations.
// Ctrl-C, SIGTERM or the end of --duration stops every process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

const (
	// demoNamespace is the namespace of every manifest in examples/.
	demoNamespace = "batch-demo"
	// scheduleGrace is batchwatch's --schedule-grace in the demo. The
	// default is 5m.
	scheduleGrace = "1m"
	// interval is both Prometheus's scrape and rule evaluation interval and
	// the refresh interval of the summary.
	interval = 10 * time.Second
	// startTimeout bounds the start of each component and the first sync
	// of batchwatch.
	startTimeout = 3 * time.Minute
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	duration := flag.Duration("duration", 0, "How long the live summary runs before the demo stops everything by itself, such as 4m. 0 runs until Ctrl-C or SIGTERM.")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: the demo takes only flags", flag.Arg(0))
	}
	if *duration < 0 {
		return fmt.Errorf("invalid --duration %s: must not be negative", *duration)
	}

	out := newScreen(os.Stdout)
	logger := slog.New(newProgressHandler(os.Stdout))
	d, err := start(logger)
	if err != nil {
		if d != nil {
			d.stop(logger, true)
		}
		return err
	}
	defer d.stop(logger, false)

	// From here on Ctrl-C ends the summary loop, and the deferred stop
	// ends every component in order; a second Ctrl-C kills them at once.
	interrupt := make(chan os.Signal, 1)
	cluster.SetSignalHook(func(sig os.Signal) { interrupt <- sig })

	if !out.terminal {
		d.writeLinks(os.Stdout)
		fmt.Println()
	}
	d.watch(out, *duration, interrupt)
	return nil
}

// demo holds the running components and the files the demo created.
type demo struct {
	dir        string
	cluster    *cluster.Cluster
	batchwatch *cluster.Server
	prometheus *cluster.Server
	// applied is when the sample workloads were created.
	applied time.Time
}

// start brings up the control plane, batchwatch and Prometheus, then applies
// examples/. On error it returns the demo started so far, for stop.
func start(logger *slog.Logger) (*demo, error) {
	root, err := cluster.RepositoryRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "batchwatch-demo-")
	if err != nil {
		return nil, fmt.Errorf("create demo folder: %w", err)
	}
	d := &demo{dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 4*startTimeout)
	defer cancel()

	logger.Info("starting the control plane on 127.0.0.1", "logs", filepath.Join(dir, "logs"))
	d.cluster, err = cluster.Start(ctx, cluster.Options{LogDir: filepath.Join(dir, "logs"), Logger: logger})
	if err != nil {
		return d, err
	}

	// batchwatch must watch before the first run finishes: finished-run
	// counters only count runs that end while it runs.
	logger.Info("building and starting batchwatch", "flags", "--schedule-grace="+scheduleGrace)
	d.batchwatch, err = cluster.StartBatchwatch(ctx, d.cluster.Kubeconfig(), "--schedule-grace="+scheduleGrace)
	if err != nil {
		return d, err
	}
	if err := waitSynced(ctx, d.batchwatch); err != nil {
		return d, err
	}
	logger.Info("batchwatch ready", "metrics", d.batchwatch.URL()+"/metrics", "log", d.batchwatch.LogPath())

	// Prometheus starts with an empty rule file and loads the alert pack
	// after its first scrape of batchwatch. Until then absent(up) would put
	// BatchwatchDown in pending, an artefact of starting both at once.
	ruleFile := filepath.Join(dir, "batchwatch.rules.yaml")
	if err := os.WriteFile(ruleFile, []byte("groups: []\n"), 0o644); err != nil {
		return d, fmt.Errorf("write the empty rule file: %w", err)
	}
	logger.Info("starting Prometheus", "scrape_interval", interval.String())
	d.prometheus, err = cluster.StartPrometheus(ctx, prometheusConfig(d.batchwatch.Address()), []string{ruleFile})
	if err != nil {
		return d, err
	}
	if err := d.loadRules(ctx, ruleFile); err != nil {
		return d, err
	}
	logger.Info("Prometheus ready", "url", d.prometheus.URL(), "log", d.prometheus.LogPath(), "rules", ruleFile)

	if err := d.applyExamples(ctx, logger, filepath.Join(root, "examples")); err != nil {
		return d, err
	}
	return d, nil
}

// waitSynced waits until batchwatch's /readyz returns 200, which it does once
// its informer caches have synced.
func waitSynced(ctx context.Context, s *cluster.Server) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, startTimeout, true, func(ctx context.Context) (bool, error) {
		return s.Ready(ctx), nil
	})
	if err != nil {
		return fmt.Errorf("batchwatch /readyz not ready within %s (log in %s): %w", startTimeout, s.LogPath(), err)
	}
	return nil
}

// loadRules waits for Prometheus's first successful scrape of batchwatch,
// then writes the demo's alert pack to ruleFile and reloads Prometheus.
func (d *demo) loadRules(ctx context.Context, ruleFile string) error {
	api := &prometheusAPI{url: d.prometheus.URL()}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, startTimeout, true, func(ctx context.Context) (bool, error) {
		up, err := api.query(ctx, `up{job="batchwatch"} == 1`)
		return err == nil && len(up) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("no successful scrape of batchwatch by Prometheus within %s (log in %s): %w", startTimeout, d.prometheus.LogPath(), err)
	}

	if err := writeDemoRules(ruleFile); err != nil {
		return err
	}
	if err := api.reload(ctx); err != nil {
		return err
	}
	groups, err := api.ruleGroups(ctx)
	if err != nil {
		return err
	}
	if groups == 0 {
		return fmt.Errorf("no rule group loaded from %s after the Prometheus reload (log in %s)", ruleFile, d.prometheus.LogPath())
	}
	return nil
}

func prometheusConfig(target string) string {
	return fmt.Sprintf(`
global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: batchwatch
    static_configs:
      - targets: [%[2]q]
`, interval, target)
}

// applyExamples creates the namespace first and waits for its default
// service account: until the service account controller has created it, the
// Job controller cannot create pods, and the first runs would start late.
func (d *demo) applyExamples(ctx context.Context, logger *slog.Logger, examples string) error {
	logger.Info("applying the sample workloads", "kustomization", examples)
	namespaceOutput, err := d.cluster.Kubectl(ctx, "apply", "-f", filepath.Join(examples, "namespace.yaml"))
	if err != nil {
		return err
	}
	printIndented(string(namespaceOutput), nil)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := d.cluster.Client().CoreV1().ServiceAccounts(demoNamespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the default service account of namespace %s: %w", demoNamespace, err)
	}

	output, err := d.cluster.Kubectl(ctx, "apply", "-k", examples)
	if err != nil {
		return err
	}
	d.applied = time.Now()
	// The second apply reports the namespace as unchanged. That line is
	// left out because the first apply already printed it.
	printIndented(string(output), func(line string) bool {
		return !strings.HasPrefix(line, "namespace/"+demoNamespace+" ")
	})
	return nil
}

// printIndented prints the lines of text for which keep returns true, or all
// of them when keep is nil, indented by two spaces.
func printIndented(text string, keep func(line string) bool) {
	for line := range strings.Lines(text) {
		if keep == nil || keep(line) {
			fmt.Print("  ", line)
		}
	}
}

// watch redraws the summary every interval until duration has passed, or
// forever when duration is 0, or until a signal arrives on interrupt. Until
// Prometheus has scraped batchwatch once, it redraws every 2s.
func (d *demo) watch(out *screen, duration time.Duration, interrupt <-chan os.Signal) {
	var deadline <-chan time.Time
	if duration > 0 {
		deadline = time.After(duration)
	}

	api := &prometheusAPI{url: d.prometheus.URL()}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		s := d.collect(ctx, api)
		cancel()
		out.draw(func(w *strings.Builder) {
			if out.terminal {
				d.writeLinks(w)
				w.WriteString("\n")
			}
			d.writeSummary(w, s, duration)
		})

		wait := interval
		if s.seriesErr != nil || len(s.series["up"]) == 0 {
			wait = 2 * time.Second
		}
		select {
		case <-deadline:
			fmt.Printf("\nThe demo ran for --duration=%s; stopping.\n", duration)
			return
		case sig := <-interrupt:
			fmt.Printf("\n%v received; stopping every component (press Ctrl-C again to kill them at once).\n", sig)
			return
		case <-time.After(wait):
		}
	}
}

// stop ends Prometheus, batchwatch and the control plane, in that order. It
// removes the demo folder with the component logs, unless keepLogs is set
// and a component has written a log. A failed start sets keepLogs so the
// logs can be read.
func (d *demo) stop(logger *slog.Logger, keepLogs bool) {
	var errs []error
	for _, s := range []*cluster.Server{d.prometheus, d.batchwatch} {
		if s == nil {
			continue
		}
		if keepLogs {
			logger.Info("log kept", "path", s.LogPath())
			s.KeepLogs()
		}
		errs = append(errs, s.Stop())
	}
	if d.cluster != nil {
		errs = append(errs, d.cluster.Stop())
	}
	if err := errors.Join(errs...); err != nil {
		logger.Error("stop the demo", "err", err, "folder", d.dir)
		return
	}
	logs := filepath.Join(d.dir, "logs")
	if entries, err := os.ReadDir(logs); keepLogs && err == nil && len(entries) > 0 {
		logger.Info("demo stopped; component logs kept", "folder", logs)
		return
	}
	if err := os.RemoveAll(d.dir); err != nil {
		logger.Error("remove the demo folder", "err", err, "folder", d.dir)
		return
	}
	logger.Info("demo stopped: every process ended and its files were removed")
}
