package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"sigs.k8s.io/yaml"
)

// Server is a running Prometheus or Alertmanager on 127.0.0.1.
type Server struct {
	url     string
	address string
	dir     string
	logDir  string
	proc    *process

	mu       sync.Mutex
	keepLogs bool
	stopped  bool
}

// StartPrometheus starts Prometheus with the given configuration file text
// and returns once it is ready. The absolute paths of ruleFiles are added to
// the configuration's rule_files. Prometheus listens on a free port with
// --web.external-url set to its own URL, so alerts link back to it, and with
// --web.enable-lifecycle, so POST /-/reload rereads the rule files. ctx
// bounds the start only.
func StartPrometheus(ctx context.Context, configYAML string, ruleFiles []string) (*Server, error) {
	config := map[string]any{}
	if err := yaml.Unmarshal([]byte(configYAML), &config); err != nil {
		return nil, fmt.Errorf("parse Prometheus configuration: %w", err)
	}
	if config == nil {
		config = map[string]any{}
	}
	rules, _ := config["rule_files"].([]any)
	for _, path := range ruleFiles {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("resolve rule file %s: %w", path, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		rules = append(rules, abs)
	}
	if len(rules) > 0 {
		config["rule_files"] = rules
	}
	data, err := yaml.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("encode Prometheus configuration: %w", err)
	}

	return startServer(ctx, "prometheus", data, func(dir, address, url string) []string {
		return []string{
			"--config.file=" + filepath.Join(dir, "config.yaml"),
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + address,
			"--web.external-url=" + url,
			"--web.enable-lifecycle",
		}
	})
}

// StartAlertmanager starts Alertmanager with the given configuration file
// text and returns once it is ready. It listens on a free port with
// --web.external-url set to its own URL, and with an empty
// --cluster.listen-address, because it would otherwise listen for cluster
// gossip on 0.0.0.0:9094. ctx bounds the start only.
func StartAlertmanager(ctx context.Context, configYAML string) (*Server, error) {
	return startServer(ctx, "alertmanager", []byte(configYAML), func(dir, address, url string) []string {
		return []string{
			"--config.file=" + filepath.Join(dir, "config.yaml"),
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + address,
			"--web.external-url=" + url,
			"--cluster.listen-address=",
		}
	})
}

func startServer(ctx context.Context, name string, config []byte, args func(dir, address, url string) []string) (*Server, error) {
	path, err := BinaryPath(name)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "batchwatch-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("create %s folder: %w", name, err)
	}
	address := hostPort(ports[0])
	s := &Server{
		url:     "http://" + address,
		address: address,
		dir:     dir,
		logDir:  filepath.Join(dir, "logs"),
	}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		s.removeFiles()
		return nil, fmt.Errorf("create %s log folder: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), config, 0o644); err != nil {
		s.removeFiles()
		return nil, fmt.Errorf("write %s configuration: %w", name, err)
	}

	s.proc = &process{
		name:    name,
		path:    path,
		args:    args(dir, address, s.url+"/"),
		logPath: filepath.Join(s.logDir, name+".log"),
	}
	if err := register(s); err != nil {
		s.removeFiles()
		return nil, err
	}
	if err := s.proc.start(); err != nil {
		s.abort()
		unregister(s)
		return nil, err
	}
	if err := waitReady(ctx, s.proc, componentTimeout, httpCheck(plainClient(), s.url+"/-/ready")); err != nil {
		s.abort()
		unregister(s)
		return nil, fmt.Errorf("start %s: %w (log kept in %s)", name, err, s.logDir)
	}
	return s, nil
}

// URL returns the base URL, such as http://127.0.0.1:40123, without a
// trailing slash.
func (s *Server) URL() string {
	return s.url
}

// Address returns the host:port that the server listens on, for scrape and
// alerting targets.
func (s *Server) Address() string {
	return s.address
}

// LogPath returns the path of the server's log file.
func (s *Server) LogPath() string {
	return s.proc.logPath
}

// KeepLogs makes Stop keep the log folder and returns its path.
func (s *Server) KeepLogs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepLogs = true
	return s.logDir
}

// Stop stops the server and removes its folder, except the log folder when
// KeepLogs was called. Stop may be called more than once.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()

	s.proc.stop(stopGrace)
	unregister(s)
	return s.removeFiles()
}

func (s *Server) abort() string {
	s.mu.Lock()
	s.stopped = true
	s.keepLogs = true
	s.mu.Unlock()

	s.proc.kill()
	s.proc.stop(0)
	s.removeFiles()
	return s.logDir
}

func (s *Server) removeFiles() error {
	s.mu.Lock()
	keep := s.keepLogs
	s.mu.Unlock()

	if !keep {
		return os.RemoveAll(s.dir)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("clean server folder: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if path := filepath.Join(s.dir, e.Name()); path != s.logDir {
			errs = append(errs, os.RemoveAll(path))
		}
	}
	return errors.Join(errs...)
}
