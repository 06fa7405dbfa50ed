//go:build unix

package scenario

import (
	"os"
	"syscall"
)

// stop stops p as the OS stops a suspended app: SIGSTOP, which it can
// neither catch nor ignore.
func stop(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }

// cont continues p (SIGCONT).
func cont(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
