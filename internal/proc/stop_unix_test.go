//go:build unix

package proc

import (
	"os/exec"
	"runtime"
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
