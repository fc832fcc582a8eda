//go:build unix && !linux

package cluster

import "syscall"

// processAttributes puts a child in its own process group. Only Linux can tie
// a child's life to its parent, so elsewhere a test process killed with
// SIGKILL leaves its children running.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
