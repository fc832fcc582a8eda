//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batchwatch/batchwatch/test/e2e/cluster"
)

// Lines of the demo's plain-text summary that the tests wait for.
var (
	// failingAlertLine is the BatchWorkloadFailing alert of the sample Job
	// that exhausts its backoffLimit (examples/failing-job.yaml).
	failingAlertLine = regexp.MustCompile(`^\s+(pending|firing)\s+BatchWorkloadFailing\s.*\bworkload=ledger-import\b`)
	// backlogLine is the suspended sample Job in Kueue queue team-a
	// (examples/queued-job.yaml).
	backlogLine = regexp.MustCompile(`^\s+Job\s+batch-demo\s+team-a\s+queued\s+1\s`)
	// summaryLine starts the schedules section, which the demo writes once
	// Prometheus has scraped batchwatch.
	summaryLine = regexp.MustCompile(`^SCHEDULES:`)
	// keptLogsLine is what the cluster package's signal handler writes for
	// each component group it kills.
	keptLogsLine = regexp.MustCompile(`logs kept in (\S+)`)
)

func TestDemoShowsAlertsAndStops(t *testing.T) {
	const duration = 3 * time.Minute
	demo := startDemo(t, "--duration="+duration.String())

	failing := demo.waitForLine(t, failingAlertLine, duration)
	backlog := demo.waitForLine(t, backlogLine, time.Second)
	if failing == "" || backlog == "" {
		t.Fatalf("summary never showed both lines (BatchWorkloadFailing of ledger-import: %q, backlog of queue team-a: %q); output:\n%s",
			failing, backlog, demo.output())
	}
	children := demo.children(t)

	if err := demo.wait(2 * time.Minute); err != nil {
		t.Fatalf("demo did not exit cleanly: %v; output:\n%s", err, demo.output())
	}
	if !strings.Contains(demo.output(), "demo stopped: every process ended and its files were removed") {
		t.Errorf("output does not end with the stop message:\n%s", lastLines(demo.output(), 10))
	}
	checkProcessesEnded(t, children)
}

func TestDemoStopsOnInterrupt(t *testing.T) {
	demo := startDemo(t, "--duration=10m")
	if demo.waitForLine(t, summaryLine, 2*time.Minute) == "" {
		t.Fatalf("no summary within 2m; output:\n%s", demo.output())
	}
	children := demo.children(t)

	if err := demo.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("send SIGINT: %v", err)
	}
	err := demo.wait(time.Minute)
	// The first SIGINT ends the summary loop and the demo stops every
	// component in order, so it exits with status 0 and keeps no logs.
	if err != nil {
		removeKeptLogs(t, demo.stderr.String())
		t.Fatalf("demo after SIGINT: %v; output:\n%s", err, demo.output())
	}
	if !strings.Contains(demo.output(), "received; stopping every component") {
		t.Errorf("output does not say the signal stops the demo:\n%s", lastLines(demo.output(), 10))
	}
	checkProcessesEnded(t, children)
}

// demoProcess is a running demo command and the output it has written.
type demoProcess struct {
	cmd *exec.Cmd
	// done is closed once the command has exited and err is set.
	done   chan struct{}
	err    error
	stdout *lockedBuffer
	stderr *lockedBuffer
}

// startDemo builds the demo command and starts it in the repository root
// with args. The cleanup kills it if the test ends before it does.
func startDemo(t *testing.T, args ...string) *demoProcess {
	t.Helper()
	root, err := cluster.RepositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(t.TempDir(), "demo")
	build := exec.CommandContext(t.Context(), "go", "build", "-tags", "e2e", "-o", binary, "./test/e2e/cmd/demo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}

	d := &demoProcess{
		cmd:    exec.Command(binary, args...),
		done:   make(chan struct{}),
		stdout: &lockedBuffer{},
		stderr: &lockedBuffer{},
	}
	d.cmd.Dir = root
	d.cmd.Stdout = d.stdout
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		// The components die with the demo: the cluster package starts them
		// with a parent-death signal.
		_ = d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

// waitForLine returns the first output line that matches pattern, waiting up
// to timeout for it. It returns "" when timeout passes or the demo exits
// without such a line.
func (d *demoProcess) waitForLine(t *testing.T, pattern *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		exited := isDone(d.done)
		for line := range strings.Lines(d.stdout.String()) {
			if pattern.MatchString(line) {
				return strings.TrimSuffix(line, "\n")
			}
		}
		if exited || time.Now().After(deadline) {
			return ""
		}
		time.Sleep(time.Second)
	}
}

// wait returns how the demo ended, or an error when it runs past timeout.
func (d *demoProcess) wait(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// output returns stdout followed by stderr, for failure messages.
func (d *demoProcess) output() string {
	return d.stdout.String() + d.stderr.String()
}

// children returns the demo's child processes: the control plane,
// batchwatch and Prometheus.
func (d *demoProcess) children(t *testing.T) []procInfo {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var children []procInfo
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		info, ok := readProc(pid)
		if ok && info.parent == d.cmd.Process.Pid {
			children = append(children, info)
		}
	}

	binDir, err := cluster.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	started := map[string]bool{}
	for _, child := range children {
		if filepath.Dir(child.exe) == binDir {
			started[filepath.Base(child.exe)] = true
		}
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "batchwatch", "prometheus"} {
		if !started[name] {
			t.Errorf("no child process runs %s from %s; children: %v", name, binDir, children)
		}
	}
	return children
}

// procInfo identifies a process across pid reuse by its start time.
type procInfo struct {
	pid    int
	parent int
	// started is the start time in clock ticks since boot, field 22 of
	// /proc/PID/stat.
	started string
	exe     string
}

func (p procInfo) String() string {
	return fmt.Sprintf("%d (%s)", p.pid, p.exe)
}

// readProc reads a process from /proc, and reports false when it no longer
// exists.
func readProc(pid int) (procInfo, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	// The command name in field 2 is in parentheses and may contain spaces,
	// so the fields are counted from the last closing parenthesis.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return procInfo{}, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 20 {
		return procInfo{}, false
	}
	parent, err := strconv.Atoi(fields[1])
	if err != nil {
		return procInfo{}, false
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return procInfo{pid: pid, parent: parent, started: fields[19], exe: exe}, true
}

// checkProcessesEnded fails the test for every process in processes that
// still runs.
func checkProcessesEnded(t *testing.T, processes []procInfo) {
	t.Helper()
	for _, p := range processes {
		if now, ok := readProc(p.pid); ok && now.started == p.started {
			t.Errorf("process %v still runs after the demo exited", p)
		}
	}
}

// removeKeptLogs removes the folders whose logs the cluster package's signal
// handler kept, so the interrupted demo leaves no files in the temporary
// folder. Each reported path is a logs folder inside the component's own
// batchwatch-* folder.
func removeKeptLogs(t *testing.T, stderr string) {
	t.Helper()
	for _, match := range keptLogsLine.FindAllStringSubmatch(stderr, -1) {
		parent := filepath.Dir(match[1])
		if filepath.Base(match[1]) != "logs" || !strings.HasPrefix(filepath.Base(parent), "batchwatch-") {
			t.Errorf("unexpected kept log folder %s", match[1])
			continue
		}
		if err := os.RemoveAll(parent); err != nil {
			t.Errorf("remove kept logs: %v", err)
		}
	}
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// lockedBuffer is a bytes.Buffer that a process can write while a test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
