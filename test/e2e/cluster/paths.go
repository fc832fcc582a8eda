package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath is the module whose go.mod marks the repository root.
const modulePath = "github.com/batchwatch/batchwatch"

// binDirEnv names the environment variable that overrides the binary folder.
const binDirEnv = "BATCHWATCH_BIN_DIR"

// RepositoryRoot returns the folder of the go.mod that declares module
// github.com/batchwatch/batchwatch, searched from the working directory
// upwards. Go runs tests in their package folder, so this works from any test.
func RepositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		module, err := readModulePath(filepath.Join(dir, "go.mod"))
		if err == nil && module == modulePath {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod with module %s found above the working directory", modulePath)
		}
		dir = parent
	}
}

// readModulePath returns the module path that a go.mod file declares.
func readModulePath(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()

	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := scanner.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "", nil
}

// BinDir returns the folder that holds the tool binaries: $BATCHWATCH_BIN_DIR
// when it is set, else .cache/bin in the repository.
func BinDir() (string, error) {
	if dir := os.Getenv(binDirEnv); dir != "" {
		return dir, nil
	}
	root, err := RepositoryRoot()
	if err != nil {
		return "", fmt.Errorf("locate the tool binaries (or set %s): %w", binDirEnv, err)
	}
	return filepath.Join(root, ".cache", "bin"), nil
}

// BinaryPath returns the path of one tool binary, such as kubectl or promtool,
// or an error that names the script that builds it.
func BinaryPath(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found in %s: run hack/tools.sh to build it", name, dir)
	}
	return path, nil
}

// PrometheusOperatorCRDs returns the paths of the ServiceMonitor and
// PrometheusRule CustomResourceDefinitions that hack/tools.sh copies from the
// prometheus-operator module into .cache/crds.
func PrometheusOperatorCRDs() ([]string, error) {
	root, err := RepositoryRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, ".cache", "crds")
	var paths []string
	for _, name := range []string{
		"monitoring.coreos.com_servicemonitors.yaml",
		"monitoring.coreos.com_prometheusrules.yaml",
	} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run hack/tools.sh crds to copy it", name, dir)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
