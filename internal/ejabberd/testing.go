package ejabberd

import (
	"context"
	"os"
	"testing"
	"time"
)

// startTTimeout bounds StartT's Start (boot and registration included).
const startTTimeout = 60 * time.Second

// StartT starts a server for a test and stops it at the end of the test,
// logging the last 40 log lines first if the test failed. When ejabberd is
// not installed it skips the test, or fails it when CI=true.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	return StartAllT(t, opts)[0]
}

// StartAllT is StartT for several servers at once: they boot concurrently,
// which saves a second or two per server (the Erlang VM is slow to start).
// It returns them in the order of opts.
func StartAllT(t testing.TB, opts ...Options) []*Server {
	t.Helper()
	if !Installed() {
		const msg = "ejabberd not found: install it with apt-get install -y ejabberd (scripts/setup.sh does); integration tests never skip under CI"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), startTTimeout)
	defer cancel()
	servers := make([]*Server, len(opts))
	errs := make([]error, len(opts))
	done := make(chan struct{})
	for i, o := range opts {
		go func() {
			defer func() { done <- struct{}{} }()
			servers[i], errs[i] = Start(ctx, o)
		}()
	}
	for range opts {
		<-done
	}
	for _, s := range servers {
		if s == nil {
			continue
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("ejabberd log (last 40 lines):\n%s", s.LogTail(40))
			}
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return servers
}
