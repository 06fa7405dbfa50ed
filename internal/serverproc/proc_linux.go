package serverproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// SysProcAttr puts the server in its own process group (so that Stop can kill
// stray children with it) and has the kernel SIGKILL it if the thread that
// started it dies, so that a crashed test binary leaves no server behind.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// KillGroup SIGKILLs the process group led by pid (errors ignored: usually
// the group is already gone).
func KillGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// Listening reports whether process pid holds a listening TCP socket on
// port: the inode of a LISTEN entry for the port in /proc/net/tcp{,6} must be
// one of the process's open sockets. This tells our server from another
// process that got the port first (a server may log a failed bind and keep
// running, and a probe could reach the other process).
func Listening(pid, port int) bool {
	inodes := make(map[string]bool)
	suffix := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) >= 10 && f[3] == "0A" && strings.HasSuffix(f[1], suffix) {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if link, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && inodes[link] {
			return true
		}
	}
	return false
}
