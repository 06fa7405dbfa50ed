//go:build !unix

package ejabberd

import (
	"os"
	"syscall"
)

// Debian's ejabberd does not run here. These keep the package compiling.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// listening cannot tell which process holds a port here; Start relies on
// the probe and on ejabberd's bind-failure log lines alone.
func listening(pid, port int) bool { return true }
