//go:build unix

package bench_test

import (
	"syscall"
	"testing"
)

// raiseNoFile raises the soft limit on open files to the hard limit: a
// thousand sessions need more than the usual 1024. Prosody, a child process,
// inherits it.
func raiseNoFile(tb testing.TB) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Logf("getrlimit: %v", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Logf("setrlimit: %v", err)
		}
	}
}
