package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartReportsMissingBinary(t *testing.T) {
	t.Setenv(binDirEnv, t.TempDir())

	_, err := Start(t.Context(), Options{})
	if err == nil {
		t.Fatal("Start succeeded without binaries")
	}
	if !strings.Contains(err.Error(), "run hack/tools.sh") {
		t.Errorf("error %q does not say to run hack/tools.sh", err)
	}
}

func TestStartKeepsLogsWhenComponentFails(t *testing.T) {
	binDir := t.TempDir()
	t.Setenv(binDirEnv, binDir)
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		script := "#!/bin/sh\necho \"" + name + ": invalid flag\" >&2\nexit 3\n"
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logDir := t.TempDir()
	// The cluster folder goes to $TMPDIR, which must be empty afterwards.
	tempDir := t.TempDir()
	t.Setenv("TMPDIR", tempDir)

	_, err := Start(t.Context(), Options{LogDir: logDir})
	if err == nil {
		t.Fatal("Start succeeded although etcd exits at once")
	}
	for _, want := range []string{"etcd exited before it was ready (exit status 3)", "etcd: invalid flag", logDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	log, readErr := os.ReadFile(filepath.Join(logDir, "etcd.log"))
	if readErr != nil {
		t.Fatalf("etcd log not kept: %v", readErr)
	}
	if !strings.Contains(string(log), "etcd: invalid flag") {
		t.Errorf("etcd log %q does not contain the output of etcd", log)
	}
	if left, _ := os.ReadDir(tempDir); len(left) != 0 {
		t.Errorf("cluster folder left in $TMPDIR: %v", left)
	}
}

func TestProcessStopKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell ignores SIGTERM and waits on a child in the same process
	// group, so only SIGKILL to the whole group ends both.
	p := &process{
		name:    "shell",
		path:    "/bin/sh",
		args:    []string{"-c", "trap '' TERM; sleep 300 & echo trap set; wait"},
		logPath: filepath.Join(dir, "shell.log"),
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	group := p.pid()
	err := waitReady(t.Context(), p, 5*time.Second, func(context.Context) error {
		log, err := os.ReadFile(p.logPath)
		// The log starts with the command line, so only a line of its own
		// shows that echo ran.
		if err != nil || !strings.Contains(string(log), "\ntrap set\n") {
			return errors.New("shell has not set its trap yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	started := time.Now()
	p.stop(200 * time.Millisecond)
	if elapsed := time.Since(started); elapsed < 200*time.Millisecond {
		t.Errorf("stop returned after %s, before the grace period ended", elapsed)
	}
	if p.running() {
		t.Error("process still running after stop")
	}
	// The sleep child may take a moment to be reaped by init.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-group, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members after stop: kill(0) = %v", group, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadModulePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go.mod")
	if err := os.WriteFile(path, []byte("// comment\nmodule \"example.com/m\"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readModulePath(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != "example.com/m" {
		t.Errorf("readModulePath = %q, want example.com/m", got)
	}
}
