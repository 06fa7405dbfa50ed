//go:build unix

package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// A busy process, which is on a CPU when SIGSTOP is queued, is stopped
// when Stop returns.
func TestStopBusyProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the state is read from /proc (Linux)")
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	if err := Stop(pid); err != nil {
		t.Fatal(err)
	}
	st, err := procState(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st != 'T' {
		t.Fatalf("state %c after Stop, want T (stopped)", st)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if st, _ := procState(pid); st == 'T' {
		t.Fatalf("still stopped after SIGCONT")
	}
}

// A process that is gone is an error, not a hang.
func TestStopGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := Stop(cmd.Process.Pid); err == nil {
		t.Fatal("Stop of a reaped process succeeded")
	}
}

// A process is stopped only when all its threads are: the first one's
// state, which /proc/PID/stat shows, may be 'T' while another still runs.
func TestAllStoppedEveryThread(t *testing.T) {
	root := t.TempDir()
	write := func(path, state string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("42 (a (b) c) "+state+" 1 42 42 0 -1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(root+"/42/stat", "T")
	write(root+"/42/task/42/stat", "T")
	write(root+"/42/task/43/stat", "R")
	if stopped, st, err := allStopped(root, 42); err != nil || stopped || st != 'R' {
		t.Fatalf("allStopped = %t, %c, %v; want false, R: thread 43 runs", stopped, st, err)
	}
	write(root+"/42/task/43/stat", "t")
	write(root+"/42/task/44/stat", "Z")
	if stopped, _, err := allStopped(root, 42); err != nil || !stopped {
		t.Fatalf("allStopped = %t, %v; want true", stopped, err)
	}
	if _, _, err := allStopped(root, 7); err == nil {
		t.Fatal("allStopped of a process that is not there: no error")
	}
}

// A Go program (many threads) busy on every thread is stopped, all of
// it, when Stop returns.
func TestStopBusyThreads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the state is read from /proc (Linux)")
	}
	// The test binary itself, running only the busy helper below.
	cmd := exec.Command(os.Args[0], "-test.run=^TestBusyHelper$")
	cmd.Env = append(os.Environ(), "PROC_BUSY_HELPER=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	for i := 0; i < 20; i++ {
		if err := Stop(pid); err != nil {
			t.Fatal(err)
		}
		if stopped, st, err := allStopped("/proc", pid); err != nil || !stopped {
			t.Fatalf("round %d: a thread in state %c after Stop (%v)", i, st, err)
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBusyHelper keeps several threads busy, for TestStopBusyThreads.
func TestBusyHelper(t *testing.T) {
	if os.Getenv("PROC_BUSY_HELPER") == "" {
		t.Skip("the helper process of TestStopBusyThreads")
	}
	for i := 0; i < 4; i++ {
		go func() {
			for {
				runtime.Gosched()
			}
		}()
	}
	select {}
}

// procState returns the state letter of process pid (its first thread's).
func procState(pid int) (byte, error) {
	return statState("/proc/" + strconv.Itoa(pid) + "/stat")
}
