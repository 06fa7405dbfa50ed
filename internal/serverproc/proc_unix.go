//go:build unix && !linux

package serverproc

import "syscall"

// SysProcAttr puts the server in its own process group so that Stop can kill
// stray children with it.
func SysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// KillGroup SIGKILLs the process group led by pid (errors ignored: usually
// the group is already gone).
func KillGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// Listening cannot tell which process holds a port here; Start relies on
// the probe and on the server's bind-failure log lines alone.
func Listening(pid, port int) bool { return true }
