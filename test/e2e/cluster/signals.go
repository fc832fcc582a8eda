package cluster

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// owner is a running cluster or server that the signal handler must stop.
type owner interface {
	// abort kills every process without waiting and returns the log folder,
	// which it keeps.
	abort() string
}

var (
	ownersMu      sync.Mutex
	owners        = map[owner]struct{}{}
	interrupted   bool
	signalHandler sync.Once
	// signalHook, when set, receives the first signal in place of the kill.
	signalHook func(os.Signal)
)

// SetSignalHook makes the first SIGINT or SIGTERM call hook instead of
// killing the components, so a program can stop them in order and exit
// cleanly. A second signal kills every component as without a hook. The
// hook runs on the signal goroutine and must not block.
func SetSignalHook(hook func(os.Signal)) {
	signalHandler.Do(installSignalHandler)
	ownersMu.Lock()
	defer ownersMu.Unlock()
	signalHook = hook
}

// register records o so that SIGINT and SIGTERM stop it. It fails once a
// signal has arrived, so no component starts during shutdown.
func register(o owner) error {
	signalHandler.Do(installSignalHandler)

	ownersMu.Lock()
	defer ownersMu.Unlock()
	if interrupted {
		return fmt.Errorf("interrupted by a signal")
	}
	owners[o] = struct{}{}
	return nil
}

func unregister(o owner) {
	ownersMu.Lock()
	defer ownersMu.Unlock()
	delete(owners, o)
}

// installSignalHandler kills every registered component on the first SIGINT
// or SIGTERM (the second when a hook is set), then raises the signal again with the default action, so the
// program ends as it would have without the handler. Children run in their
// own process groups and would not see a Ctrl-C sent to the terminal.
func installSignalHandler() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals

		ownersMu.Lock()
		hook := signalHook
		ownersMu.Unlock()
		if hook != nil {
			hook(sig)
			sig = <-signals
		}

		ownersMu.Lock()
		interrupted = true
		for o := range owners {
			fmt.Fprintf(os.Stderr, "cluster: %v received, killed components; logs kept in %s\n", sig, o.abort())
		}
		ownersMu.Unlock()

		signal.Reset(os.Interrupt, syscall.SIGTERM)
		if s, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), s)
		}
		os.Exit(1)
	}()
}

// Stoppable is a running cluster or server.
type Stoppable interface {
	// Stop ends every process and removes the temporary files.
	Stop() error
	// KeepLogs makes Stop keep the log folder and returns its path.
	KeepLogs() string
}

// StopOnCleanup registers a cleanup on t that stops s. When the test has
// failed, s keeps its logs and the test log names their folder.
func StopOnCleanup(t testing.TB, s Stoppable) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("component logs kept in %s", s.KeepLogs())
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}
