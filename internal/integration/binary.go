package integration

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildXmppbg builds the xmppbg command into a temporary directory of tb's
// and returns the binary's path, for tests that run the client as a real
// process: to stop it with SIGSTOP, kill it with SIGKILL, drive it from a
// terminal. With race it is built with the race detector where that builds
// (it needs cgo), so that a race in the process fails the test through its
// exit code (66); where it does not, a plain build is used and logged.
func BuildXmppbg(tb testing.TB, race bool) string {
	tb.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		tb.Fatal("no go command to build xmppbg with")
	}
	bin := filepath.Join(tb.TempDir(), "xmppbg")
	const pkg = "github.com/xmppbg/xmppbg/cmd/xmppbg"
	if race {
		out, err := exec.Command(gocmd, "build", "-race", "-o", bin, pkg).CombinedOutput()
		if err == nil {
			return bin
		}
		tb.Logf("no race detector (%v: %s): a plain build", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command(gocmd, "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
