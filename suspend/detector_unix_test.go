//go:build unix

package suspend_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// A real SIGCONT sent to this process is reported.
func TestDetectorRealSIGCONT(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	woke := make(chan suspend.Woke, 4)
	ready := make(chan struct{})
	done := make(chan error, 1)
	// Only the signal can report: a long period, no network watching
	// (the machine is shared).
	d := suspend.NewDetector(suspend.DetectorOptions{Interval: time.Hour, NoNetwork: true})
	go func() {
		close(ready)
		done <- d.Run(ctx, func(w suspend.Woke) { woke <- w })
	}()
	defer func() {
		cancel()
		<-done
	}()
	<-ready
	// Run registers for SIGCONT as it starts: send until it is heard (a
	// SIGCONT to a running process does nothing else).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if err := syscall.Kill(os.Getpid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		select {
		case w := <-woke:
			if w.Cause != suspend.Continued {
				t.Fatalf("woke %+v, want cause %v", w, suspend.Continued)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("no wake-up 30 s after SIGCONT")
		}
	}
}

// childEnv selects the helper mode of this test binary: a process that runs
// a detector and prints what it reports, for the parent to stop and continue.
const childEnv = "XMPPBG_DETECTOR_CHILD"

// TestDetectorChildHelper is the child's body; it does nothing in a normal
// run.
func TestDetectorChildHelper(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("helper process for TestDetectorStoppedProcess")
	}
	opts := suspend.DetectorOptions{Interval: time.Hour, NoNetwork: true}
	if mode == "timer" {
		// Only the timer can tell: a short period, no signal.
		opts = suspend.DetectorOptions{Interval: 200 * time.Millisecond, LateAfter: time.Second, NoSignal: true, NoNetwork: true}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := suspend.NewDetector(opts)
	go func() {
		// Run's first statements register for SIGCONT; a moment later
		// it surely has.
		time.Sleep(200 * time.Millisecond)
		fmt.Println("ready")
	}()
	_ = d.Run(ctx, func(w suspend.Woke) {
		fmt.Printf("woke %s late=%d\n", w.Cause, w.Late)
		cancel()
	})
}

// A real process stopped with SIGSTOP and continued with SIGCONT notices,
// by the signal and, with signals off, by its late timer.
func TestDetectorStoppedProcess(t *testing.T) {
	for _, tc := range []struct{ mode, cause string }{
		{"signal", "sigcont"},
		{"timer", "late-timer"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDetectorChildHelper$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+tc.mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()
			lines := childLines(out)
			next := func(prefix string, within time.Duration) (string, bool) {
				t.Helper()
				timeout := time.After(within)
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("child ended before %q", prefix)
						}
						if strings.HasPrefix(l, prefix) {
							return l, true
						}
					case <-timeout:
						return "", false
					}
				}
			}
			if _, ok := next("ready", 30*time.Second); !ok {
				t.Fatal("child not ready in 30 s")
			}
			// The length of the freeze, not a wait for something.
			const stopped = 2 * time.Second
			// The child may not have registered for SIGCONT yet when it
			// says ready: stop and continue it until it notices.
			var l string
			for try := 0; l == ""; try++ {
				if try == 5 {
					t.Fatal("the child noticed none of 5 stops")
				}
				if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				time.Sleep(stopped)
				if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				l, _ = next("woke ", 10*time.Second)
			}
			var cause string
			var late time.Duration
			if _, err := fmt.Sscanf(l, "woke %s late=%d", &cause, &late); err != nil {
				t.Fatalf("child said %q: %v", l, err)
			}
			if cause != tc.cause {
				t.Fatalf("child noticed %q, want %q", l, tc.cause)
			}
			// The timer was due during the stop: it fired late by most of
			// the stop (more than LateAfter) in timer mode.
			if tc.mode == "timer" && late < stopped-time.Second {
				t.Fatalf("late by %v after a %v stop", late, stopped)
			}
		})
	}
}

// SIGCONT exists on Unix only: the detector listens for it there.
func TestDetectorSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		sig := make(chan os.Signal, 1)
		w := runDetector(t, suspend.WithSignals(suspend.DetectorOptions{Clock: clk, NoNetwork: true}, sig))

		// A short stop: the timer was not due, only SIGCONT tells.
		time.Sleep(5 * time.Second)
		clk.freeze(3 * time.Second)
		sig <- syscall.SIGCONT
		wantWakes(t, w, suspend.Woke{Cause: suspend.Continued})

		// A long stop: SIGCONT comes first and carries the lateness; the
		// late timer is part of the same report.
		time.Sleep(10 * time.Second)
		clk.freeze(10 * time.Minute)
		sig <- syscall.SIGCONT
		wantWakes(t, w, suspend.Woke{Cause: suspend.Continued, Late: 10*time.Minute - 20*time.Second})
		time.Sleep(30 * time.Second)
		wantWakes(t, w)

		// The late timer first, SIGCONT just after: one report.
		time.Sleep(29 * time.Second)
		clk.freeze(time.Minute)
		time.Sleep(time.Second)
		time.Sleep(100 * time.Millisecond)
		sig <- syscall.SIGCONT
		wantWakes(t, w, suspend.Woke{Cause: suspend.LateTimer, Late: time.Minute})

		// A SIGCONT well after the last report is a new stop.
		time.Sleep(5 * time.Second)
		sig <- syscall.SIGCONT
		wantWakes(t, w, suspend.Woke{Cause: suspend.Continued})
	})
}

// childLines hands out the lines a child test process writes on out, and
// is closed when it ends.
func childLines(out io.Reader) <-chan string {
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}
