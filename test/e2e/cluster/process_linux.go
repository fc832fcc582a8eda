package cluster

import "syscall"

// processAttributes puts a child in its own process group and sets its parent
// death signal, so the kernel kills it when the thread that started it
// exits. The Go runtime ends a thread only when a goroutine locked to it
// returns, and the harness locks no threads, so in practice the child dies
// with the test process, even one killed by SIGKILL or a test timeout.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
