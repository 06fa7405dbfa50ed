//go:build unix

package proc

import (
	"errors"
	"fmt"
	"io/fs"
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
		stopped, st, err := allStopped("/proc", pid)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		if stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped 5s after SIGSTOP (state %c)", pid, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every thread of process pid is stopped, from
// root/PID/task/*/stat (root is /proc), and else the state of one that is
// not. The process's own state (root/PID/stat) is its first thread's
// only: SIGSTOP stops the threads one by one, and the others of a
// multi-threaded process (any Go program) may still run a moment after
// the first one shows 'T'. A thread that has exited ('Z', 'X') cannot run.
func allStopped(root string, pid int) (bool, byte, error) {
	dir := root + "/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, 0, err
	}
	for _, task := range tasks {
		st, err := statState(dir + "/" + task.Name() + "/stat")
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread has ended since the listing
		}
		if err != nil {
			return false, 0, err
		}
		switch st {
		case 'T', 't', 'Z', 'X':
		default:
			return false, st, nil
		}
	}
	if len(tasks) == 0 {
		return false, 0, fmt.Errorf("%s: no threads", dir)
	}
	return true, 'T', nil
}

// statState returns the state letter of a stat file of /proc (Linux): 'T'
// stopped, 'R' running, 'S' sleeping, 'Z' zombie, ...
func statState(path string) (byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, fmt.Errorf("%s: unexpected %q", path, s)
	}
	return s[i+2], nil
}
