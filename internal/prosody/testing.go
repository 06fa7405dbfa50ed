package prosody

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// startTTimeout bounds StartT's Start (registration of many accounts
// included).
const startTTimeout = 60 * time.Second

// StartT starts a server for a test (or describes the external one, see the
// package doc) and stops it at the end of the test, logging the last 40 log
// lines first if the test failed. When the prosody binary is missing it skips
// the test, or fails it when CI=true.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	if os.Getenv(EnvServer) == "" {
		if _, err := exec.LookPath("prosody"); err != nil {
			const msg = "prosody not found: install it with apt-get install -y prosody; integration tests never skip under CI"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), startTTimeout)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && !s.External() {
			t.Logf("prosody log (last 40 lines):\n%s", s.LogTail(40))
		}
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}
