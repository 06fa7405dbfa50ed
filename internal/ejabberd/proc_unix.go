//go:build unix && !linux

package ejabberd

import "syscall"

// sysProcAttr puts the server in its own process group so that Stop can kill
// stray children with it.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup SIGKILLs the process group led by pid (errors ignored: usually
// the group is already gone).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// listening cannot tell which process holds a port here; Start relies on
// the probe and on ejabberd's bind-failure log lines alone.
func listening(pid, port int) bool { return true }
