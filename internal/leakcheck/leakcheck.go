// Package leakcheck fails a test binary whose goroutines outlive its tests.
// It is test-only scaffolding: only _test.go files import it.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and exits, with a failure when goroutines whose stacks
// mention any of the given import paths (e.g. "xmppbg/session") are still
// running afterwards. Use it as a package's TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m, "xmppbg/session") }
func Main(m *testing.M, paths ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(paths...); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of the goroutines that mention one of paths,
// other than the one calling it, after giving goroutines that ended their
// work up to two seconds to exit; "" when there are none.
func Leaked(paths ...string) string {
	for try := 0; ; try++ {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i == 0 {
				continue // this goroutine
			}
			for _, p := range paths {
				if strings.Contains(g, p) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || try == 100 {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
