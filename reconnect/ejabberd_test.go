package reconnect_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// The suspend-cycle tests of integration_test.go against a second real
// server: Debian's ejabberd 23.01 (internal/ejabberd). Its Erlang VM boots
// in about 2 s, so two servers serve every test (the default resume_timeout,
// and a 1 s one for the expiry path), each test with accounts of its own.

// xmppServer is what these tests need of a server; both harnesses provide
// it.
type xmppServer interface {
	Addr() string
	Domain() string
	CAFile() string
	Hibernation() time.Duration
	Register(ctx context.Context, user, password string) error
	Restart(ctx context.Context, sig os.Signal) error
}

var (
	_ xmppServer = (*prosody.Server)(nil)
	_ xmppServer = (*ejabberd.Server)(nil)
)

var rigSeq atomic.Int64

// newServerRig is newRig for any running server: it registers a fresh
// alice and bob (names with a unique suffix) and starts their clients, alice
// with a suspend.App under policy. The rig's srv field stays nil: cycle
// does not use it.
func newServerRig(t *testing.T, srv xmppServer, policy suspend.Policy) *rig {
	t.Helper()
	n := rigSeq.Add(1)
	r := &rig{}
	r.alice = startAccount(t, srv, fmt.Sprintf("alice%d", n), policy, true)
	r.bob = startAccount(t, srv, fmt.Sprintf("bob%d", n), 0, false)
	t.Cleanup(func() {
		if t.Failed() {
			for _, a := range []*account{r.alice, r.bob} {
				t.Logf("%s's events:\n%s", a.name, a.led.dump())
				if ej, ok := srv.(*ejabberd.Server); ok {
					user, _, _ := strings.Cut(a.jid, "@")
					n, err := ej.Call(context.Background(), "get_offline_count", map[string]string{"user": user, "server": srv.Domain()})
					t.Logf("%s: messages in offline storage: %s %v", a.name, n, err)
				}
			}
		}
	})
	return r
}

// dump lists the ledger's events, one a line, for a failed test's log.
func (l *ledger) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for i, e := range l.ev {
		fmt.Fprintf(&b, "%s %T %+v\n", l.at[i].Format("15:04:05.000"), e, e)
	}
	return b.String()
}

// startAccount is rig.start for any server: it registers name and runs a
// reconnect.Client for it (and a suspend.App when withApp).
func startAccount(t *testing.T, srv xmppServer, name string, policy suspend.Policy, withApp bool) *account {
	t.Helper()
	if err := srv.Register(t.Context(), name, pw); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	a := &account{name: name, jid: name + "@" + srv.Domain(), led: newLedger()}
	var d net.Dialer
	base := func(ctx context.Context, network, address string) (net.Conn, error) {
		a.dials.Add(1)
		return d.DialContext(ctx, network, address)
	}
	cfg := reconnect.Config{
		Session: session.Config{
			JID: a.jid, Password: pw, Addr: srv.Addr(), TLS: tlsCfg,
			Dial:   base,
			Logger: slog.New(slog.DiscardHandler),
		},
		ProbeTimeout: 2 * time.Second,
		Backoff:      reconnect.Backoff{Initial: 300 * time.Millisecond, Max: time.Second},
		OnEvent:      a.led.on,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if withApp {
		cfg.Session.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			return a.app.Dial(base)(ctx, network, address)
		}
	}
	a.client = reconnect.New(cfg)
	if withApp {
		a.app = suspend.New(a.client, suspend.Options{Policy: policy})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.client.Run(ctx)
	}()
	a.stop = func() { cancel(); <-done }
	t.Cleanup(a.stop)
	a.led.waitUntil(t, name+" online", 10*time.Second, func() bool { return a.client.Status() == reconnect.Online })
	a.led.waitUntil(t, name+"'s presence handled", 10*time.Second, func() bool { return presenceAcked(a.led, time.Time{}) })
	return a
}

// presenceAcked reports whether the server acknowledged a presence of ours
// after t0: it has handled it, so the session is available. Called with
// l.mu held.
//
// ejabberd 23.01 needs this wait before anyone writes to the account: a
// message to the bare JID routed between bind and the handling of the
// initial presence goes to offline storage, and the sender's process may
// store it just after the recipient's presence handler pulled offline
// messages, leaving it there until the next login (seen here under -race;
// see internal/ejabberd's doc). Prosody handles one stanza at a time and
// has no such window.
func presenceAcked(l *ledger, t0 time.Time) bool {
	for i, e := range l.ev {
		if a, ok := e.(reconnect.Acked); ok && l.at[i].After(t0) {
			for _, s := range a.Stanzas {
				if s.Kind == "presence" {
					return true
				}
			}
		}
	}
	return false
}

func TestEjabberdSuspend(t *testing.T) {
	begin := time.Now()
	servers := integration.StartEjabberds(t,
		ejabberd.Options{},
		ejabberd.Options{Hibernation: time.Second},
	)
	long, short := servers[0], servers[1]
	t.Logf("two ejabberd servers up in %v", time.Since(begin))

	t.Run("Faults", func(t *testing.T) {
		for _, tc := range []struct {
			fault  suspend.Fault
			within time.Duration
		}{
			{suspend.FaultRST, time.Second},
			{suspend.FaultReclaim, time.Second},
			// Silence is only found by the probe: 2 s here, plus a margin.
			{suspend.FaultBlackhole, 2*time.Second + time.Second},
		} {
			t.Run(tc.fault.String(), func(t *testing.T) {
				t.Parallel()
				r := newServerRig(t, long, suspend.PolicyHold)
				repair, c := r.ejCycle(t, 500*time.Millisecond, func() {
					if err := r.alice.app.Inject(tc.fault); err != nil {
						t.Fatal(err)
					}
				})
				if !c.Login.Resumed {
					t.Errorf("stream not resumed after %v: %+v", tc.fault, c.Login)
				}
				if repair == 0 || repair > tc.within {
					t.Errorf("repair took %v, want at most %v", repair, tc.within)
				}
				t.Logf("%v: repaired in %v", tc.fault, repair)
			})
		}
	})

	// Hold without a fault: the socket survives, the probe says so, nothing
	// is redone.
	t.Run("HoldSurvives", func(t *testing.T) {
		r := newServerRig(t, long, suspend.PolicyHold)
		dials := r.alice.dials.Load()
		r.ejCycle(t, 300*time.Millisecond, nil)
		if n := r.alice.dials.Load(); n != dials {
			t.Errorf("%d new connections, want none: the held socket was fine", n-dials)
		}
	})

	t.Run("Policies", func(t *testing.T) {
		t.Run("detach", func(t *testing.T) {
			t.Parallel()
			r := newServerRig(t, long, suspend.PolicyDetach)
			_, c := r.ejCycle(t, 500*time.Millisecond, nil)
			if !c.Login.Resumed {
				t.Errorf("detached stream not resumed: %+v", c.Login)
			}
		})
		t.Run("close", func(t *testing.T) {
			t.Parallel()
			r := newServerRig(t, long, suspend.PolicyClose)
			_, c := r.ejCycle(t, 500*time.Millisecond, nil)
			if c.Login.Resumed {
				t.Errorf("resumed a stream that was closed: %+v", c.Login)
			}
		})
	})

	// Suspended longer than resume_timeout: a fresh session; what the peer
	// wrote meanwhile sat in the expired stream's queue and comes back
	// through offline storage (resend_on_timeout: if_offline).
	t.Run("LongerThanHibernation", func(t *testing.T) {
		r := newServerRig(t, short, suspend.PolicyDetach)
		_, c := r.ejCycle(t, short.Hibernation()+1500*time.Millisecond, nil)
		if c.Login.Resumed {
			t.Fatalf("resumed after resume_timeout expired: %+v", c.Login)
		}
	})
}

// ejCycle is rig.cycle with one more step for ejabberd: when the repair
// was a fresh session, it waits until the server has handled alice's new
// initial presence before bob writes to her (see presenceAcked). Otherwise
// the same scenario: traffic both ways, a suspension (with the fault, if
// any, applied while suspended) during which bob keeps writing, a resume,
// and traffic both ways again, every message exactly once.
func (r *rig) ejCycle(t *testing.T, suspendFor time.Duration, during func()) (repair time.Duration, connected reconnect.Connected) {
	t.Helper()
	alice, bob := r.alice, r.bob
	before := msgs("bob before", 5)
	bob.send(t, alice, before)
	alice.send(t, bob, msgs("alice before", 5))
	alice.led.waitUntil(t, "alice gets the first messages", 10*time.Second, func() bool { return alice.led.count(before) == 5 })

	expired := make(chan struct{})
	if err := alice.app.BeginBackgroundTask(200*time.Millisecond, func() { close(expired) }); err != nil {
		t.Fatal(err)
	}
	alice.send(t, bob, msgs("alice in background", 3))
	select {
	case <-expired:
	case <-time.After(5 * time.Second):
		t.Fatal("the background window never expired")
	}
	waitApp(t, alice.app, suspend.Suspended)
	if during != nil {
		during()
	}
	bob.send(t, alice, msgs("bob while suspended", 5))
	time.Sleep(suspendFor)

	resumed := time.Now()
	if err := alice.app.Resume(); err != nil {
		t.Fatal(err)
	}
	isOnline := func(e reconnect.Event) bool {
		s, ok := e.(reconnect.StatusChanged)
		return ok && s.Status == reconnect.Online
	}
	alice.led.waitUntil(t, "alice online after resume", 20*time.Second, func() bool {
		for i, e := range alice.led.ev {
			if alice.led.at[i].After(resumed) && isOnline(e) {
				return true
			}
		}
		return false
	})
	if at, ev := alice.led.firstAfter(resumed, func(e reconnect.Event) bool { _, ok := e.(reconnect.Connected); return ok }); ev != nil {
		connected = ev.(reconnect.Connected)
		repair = at.Sub(resumed)
	}
	if repair != 0 && connected.Login.Fresh() {
		alice.led.waitUntil(t, "alice's new presence handled", 10*time.Second, func() bool { return presenceAcked(alice.led, resumed) })
	}
	bob.send(t, alice, msgs("bob after", 5))
	alice.send(t, bob, msgs("alice after", 5))

	wantAlice := append(append(append([]string(nil), before...), msgs("bob while suspended", 5)...), msgs("bob after", 5)...)
	wantBob := append(append(msgs("alice before", 5), msgs("alice in background", 3)...), msgs("alice after", 5)...)
	alice.led.waitUntil(t, "alice gets everything", 20*time.Second, func() bool { return alice.led.count(wantAlice) == len(wantAlice) })
	bob.led.waitUntil(t, "bob gets everything", 20*time.Second, func() bool { return bob.led.count(wantBob) == len(wantBob) })
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	alice.led.exactlyOnce(t, "alice", wantAlice)
	bob.led.exactlyOnce(t, "bob", wantBob)
	return repair, connected
}
