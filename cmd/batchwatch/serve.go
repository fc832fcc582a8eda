package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/batchwatch/batchwatch/collector"
	"github.com/batchwatch/batchwatch/internal/kube"
)

// defaultListenAddress is batchwatch's port.
const defaultListenAddress = ":9929"

// serveOptions are the flags of serve.
type serveOptions struct {
	kubeconfig  string
	namespaces  []string
	syncTimeout time.Duration
	model       *modelOptions
	web         *web.FlagConfig
}

func registerServe(app *kingpin.Application) (string, action) {
	cmd := app.Command("serve", "Watch CronJobs, Jobs and Pods, and the Argo Workflows and spark-operator resources where their CRDs are installed, and serve their metrics on /metrics.")
	opts := &serveOptions{}
	cmd.Flag("kubeconfig", "Path to a kubeconfig file; without it, the in-cluster config, else $KUBECONFIG or ~/.kube/config.").
		StringVar(&opts.kubeconfig)
	cmd.Flag("namespaces", "Namespaces to watch, comma-separated or repeated; all namespaces when unset.").
		StringsVar(&opts.namespaces)
	cmd.Flag("informers.sync-timeout", "How long to wait for the caches to sync before logging an error; /readyz stays unready until they do.").
		Default("2m").DurationVar(&opts.syncTimeout)
	opts.model = addModelFlags(cmd)
	opts.web = kingpinflag.AddFlags(cmd, defaultListenAddress)

	return cmd.FullCommand(), func(logger *slog.Logger) error {
		return serve(opts, logger)
	}
}

func serve(opts *serveOptions, logger *slog.Logger) error {
	if err := opts.model.validate(); err != nil {
		return err
	}
	klog.SetSlogLogger(logger)
	logger.Info("starting batchwatch", "version", version.Info(), "build_context", version.BuildContext())

	restConfig, err := restConfig(opts.kubeconfig)
	if err != nil {
		return err
	}
	restConfig.UserAgent = "batchwatch/" + version.Version
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes client: %w", err)
	}
	dynamicClient, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes dynamic client: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	exporter := newExporter(client, splitNamespaces(opts.namespaces), opts.model, clock.RealClock{}, logger,
		withCustomResources(client.Discovery(), dynamicClient, 0))
	exporter.start(ctx)
	go exporter.waitForSync(ctx, opts.syncTimeout)

	server := &http.Server{Handler: exporter.handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, opts.web, logger) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// restConfig loads the client config: an explicit kubeconfig, else the
// in-cluster config when running in a pod, else the usual kubeconfig rules.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if config, err := rest.InClusterConfig(); err == nil {
			return config, nil
		} else if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("load in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return config, nil
}

// exporter is serve's wiring: informers, collectors and HTTP handlers.
type exporter struct {
	informers *kube.Informers
	// customResources watches the Argo and spark-operator resources; nil
	// when the exporter was built without them.
	customResources *kube.CustomResources
	registry        *prometheus.Registry
	logger          *slog.Logger
}

// exporterOption adds an optional part to the exporter.
type exporterOption func(*exporterParts)

type exporterParts struct {
	customResources *kube.CustomResourceOptions
}

// withCustomResources makes the exporter watch the Argo Workflows and
// spark-operator resources that discovery finds, polling it every interval
// (30s when zero).
func withCustomResources(discovery kube.ResourceDiscovery, client dynamic.Interface, interval time.Duration) exporterOption {
	return func(parts *exporterParts) {
		parts.customResources = &kube.CustomResourceOptions{Discovery: discovery, Client: client, DiscoveryInterval: interval}
	}
}

func newExporter(client kubernetes.Interface, namespaces []string, model *modelOptions, clk clock.PassiveClock, logger *slog.Logger,
	options ...exporterOption,
) *exporter {
	var parts exporterParts
	for _, option := range options {
		option(&parts)
	}

	recorder := collector.NewRecorder(clk.Now())
	informers := kube.New(kube.Options{
		Client:      client,
		Namespaces:  namespaces,
		DefaultZone: model.defaultTimeZone,
		Recorder:    recorder,
		Logger:      logger,
	})
	e := &exporter{informers: informers, logger: logger}
	sources := []collector.Source{informers.Source()}
	stats := informers.Stats

	unexpected := collector.NewUnexpectedObjects()
	if parts.customResources != nil {
		opts := *parts.customResources
		opts.Namespaces = namespaces
		opts.DefaultZone = model.defaultTimeZone
		opts.Recorder = recorder
		opts.Unexpected = unexpected
		opts.Logger = logger
		e.customResources = kube.NewCustomResources(opts)
		sources = append(sources, e.customResources.Sources()...)
		stats = func() []collector.InformerStats {
			return append(informers.Stats(), e.customResources.Stats()...)
		}
	}

	e.registry = prometheus.NewRegistry()
	e.registry.MustRegister(
		versioncollector.NewCollector("batchwatch"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector.NewInformerCollector(stats),
		unexpected,
		collector.New(collector.Options{
			Sources:         sources,
			Recorder:        recorder,
			Clock:           clk,
			ScheduleGrace:   model.scheduleGrace,
			DefaultTimeZone: model.defaultTimeZone,
			Logger:          logger,
		}),
	)
	return e
}

// start runs the informers until ctx is done. The custom resource
// informers do not hold back /readyz: their CRDs may be installed while
// batchwatch lacks the RBAC rules to read them, and their health shows in
// batchwatch_informer_synced instead.
func (e *exporter) start(ctx context.Context) {
	e.informers.Start(ctx)
	if e.customResources != nil {
		e.customResources.Start(ctx)
	}
}

func (e *exporter) waitForSync(ctx context.Context, timeout time.Duration) {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if e.informers.WaitForSync(waitCtx) || ctx.Err() != nil {
		return
	}
	e.logger.Error("caches not synced in time; /readyz stays unready until they are", "timeout_seconds", timeout.Seconds())
	e.informers.WaitForSync(ctx)
}

func (e *exporter) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(e.logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !e.informers.Synced() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})

	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "batchwatch",
		Description: "Prometheus exporter for Kubernetes batch workloads",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics"},
			{Address: "/readyz", Text: "Readiness", Description: "ready once the informer caches have synced"},
		},
	})
	if err != nil {
		e.logger.Error("landing page unavailable", "err", err)
	} else {
		mux.Handle("/", landing)
	}
	return mux
}

// splitNamespaces accepts both repeated flags and comma-separated lists.
func splitNamespaces(values []string) []string {
	var namespaces []string
	for _, v := range values {
		for _, ns := range strings.Split(v, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				namespaces = append(namespaces, ns)
			}
		}
	}
	return namespaces
}
