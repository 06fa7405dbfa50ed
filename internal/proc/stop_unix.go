//go:build unix

package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stop sends SIGSTOP to the process pid and returns once the kernel has
// really stopped it, so that what the caller does next happens while the
// process cannot run. kill(2) only queues the signal: a process that is
// on a CPU keeps running for a moment, long enough to read a line typed
// "while it is stopped" and to send it. Where the state cannot be read
// (no /proc), it waits a fixed 100 ms.
func Stop(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP %d: %w", pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := procState(pid)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		if st == 'T' || st == 't' {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped 5s after SIGSTOP (state %c)", pid, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// procState returns the state letter of process pid from /proc/PID/stat
// (Linux): 'T' stopped, 'R' running, 'S' sleeping, 'Z' zombie, ...
func procState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	return s[i+2], nil
}
