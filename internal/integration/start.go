package integration

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

// startTimeout bounds starting a server for a test (registration of many
// accounts and the Erlang VM's boot included).
const startTimeout = 60 * time.Second

// missing skips the test for a server that is not installed, or fails it
// under CI=true: integration tests never skip under CI.
func missing(t testing.TB, msg string) {
	t.Helper()
	msg += "; integration tests never skip under CI"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// StartProsody starts a local Prosody for a test (or, for Prosody 0.12,
// attaches to the one XMPPBG_TEST_SERVER names, see the package doc) and
// stops it at the end of the test, logging the last 40 log lines first if
// the test failed. When the asked for Prosody (opts.Version) is missing it
// skips the test, or fails it when CI=true.
func StartProsody(t testing.TB, opts prosody.Options) *prosody.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	var (
		s   *prosody.Server
		err error
	)
	stable := opts.Version == "" || opts.Version == prosody.Version012
	if r, ok, rerr := attachedProsody(); rerr != nil {
		t.Fatal(rerr)
	} else if ok && stable {
		s, err = prosody.Attach(ctx, r, opts.Accounts)
	} else {
		if _, ferr := prosody.Find(opts.Version); errors.Is(ferr, prosody.ErrNotInstalled) {
			missing(t, ferr.Error())
		}
		s, err = prosody.Start(ctx, opts)
	}
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

// StartEjabberd starts an ejabberd server for a test and stops it at the end
// of the test, logging the last 40 log lines first if the test failed. When
// ejabberd is not installed it skips the test, or fails it when CI=true.
func StartEjabberd(t testing.TB, opts ejabberd.Options) *ejabberd.Server {
	t.Helper()
	return StartEjabberds(t, opts)[0]
}

// StartEjabberds is StartEjabberd for several servers at once: they boot
// concurrently, which saves a second or two per server (the Erlang VM is
// slow to start). It returns them in the order of opts.
func StartEjabberds(t testing.TB, opts ...ejabberd.Options) []*ejabberd.Server {
	t.Helper()
	for _, o := range opts {
		if _, err := ejabberd.Find(o.Version); errors.Is(err, ejabberd.ErrNotInstalled) {
			missing(t, err.Error())
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	servers := make([]*ejabberd.Server, len(opts))
	errs := make([]error, len(opts))
	done := make(chan struct{})
	for i, o := range opts {
		go func() {
			defer func() { done <- struct{}{} }()
			servers[i], errs[i] = ejabberd.Start(ctx, o)
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
