//go:build unix

package scenario

import (
	"os"
	"syscall"

	"github.com/xmppbg/xmppbg/internal/proc"
)

// stop stops p as the OS stops a suspended app: SIGSTOP, which it can
// neither catch nor ignore. It returns once p really is stopped, so that
// what the script does next (a network fault, a peer's message) happens
// while the app cannot run.
func stop(p *os.Process) error { return proc.Stop(p.Pid) }

// cont continues p (SIGCONT).
func cont(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
