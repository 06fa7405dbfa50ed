//go:build !unix

package prosody

import (
	"os"
	"syscall"
)

// Prosody does not run natively here; external mode is the way. These keep
// the package compiling.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// listening cannot tell which process holds a port here; Start relies on
// the probe and on Prosody's bind-failure log lines alone.
func listening(pid, port int) bool { return true }
