package reconnect_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// Integration tests: the whole cycle (background window, suspension, a dead
// socket, resume, detection, repair) with a peer sending and receiving, and
// a ledger that every message arrives exactly once. One suite, run by
// integration.Each against every real server the harnesses know (Prosody
// 0.12 and ejabberd 23.01 today), each test on a server of its own.

// ledger records what an account received.
type ledger struct {
	mu    sync.Mutex
	got   map[string]int
	order []string
	ev    []reconnect.Event
	at    []time.Time
	wake  chan struct{}
}

func newLedger() *ledger { return &ledger{got: map[string]int{}, wake: make(chan struct{}, 1)} }

func (l *ledger) on(e reconnect.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.at = append(l.at, time.Now())
	if r, ok := e.(reconnect.Received); ok {
		l.got[r.Message.Body]++
		l.order = append(l.order, r.Message.Body)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// waitUntil waits for cond over the ledger's events.
func (l *ledger) waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ok := cond()
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-l.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (l *ledger) count(bodies []string) int {
	n := 0
	for _, b := range bodies {
		if l.got[b] > 0 {
			n++
		}
	}
	return n
}

// firstAfter returns when the first event matching f came after t0.
func (l *ledger) firstAfter(t0 time.Time, f func(reconnect.Event) bool) (time.Time, reconnect.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.ev {
		if l.at[i].After(t0) && f(e) {
			return l.at[i], e
		}
	}
	return time.Time{}, nil
}

func (l *ledger) exactlyOnce(t *testing.T, who string, want []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for _, b := range want {
		seen[b] = true
		if n := l.got[b]; n != 1 {
			t.Errorf("%s got %q %d times, want once", who, b, n)
		}
	}
	for b, n := range l.got {
		if !seen[b] {
			t.Errorf("%s got unexpected %q (%d times)", who, b, n)
		}
	}
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

type account struct {
	name   string
	jid    string
	client *reconnect.Client
	app    *suspend.App
	led    *ledger
	stop   func()
	dials  atomic.Int64
}

type rigOpts struct {
	hibernation time.Duration
	policy      suspend.Policy
	viaProxy    bool
	noSM        bool // a server without XEP-0198
}

type rig struct {
	srv   integration.Server
	proxy *faultproxy.Proxy
	alice *account
	bob   *account
}

// eachRig runs f once per server (integration.Each), with a rig on a server
// started for o: alice with a suspend.App under o.policy, bob without.
func eachRig(t *testing.T, o rigOpts, f func(t *testing.T, r *rig)) {
	t.Helper()
	so := integration.Options{Hibernation: o.hibernation, DisableSM: o.noSM}
	integration.Each(t, so, func(t *testing.T, srv integration.Server) {
		f(t, newRig(t, srv, o))
	})
}

func newRig(t *testing.T, srv integration.Server, o rigOpts) *rig {
	t.Helper()
	r := &rig{srv: srv}
	addr := srv.Addr()
	if o.viaProxy {
		p, err := faultproxy.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		r.proxy = p
		addr = p.Addr()
	}
	r.alice = r.start(t, "alice", addr, o.policy, true)
	r.bob = r.start(t, "bob", srv.Addr(), 0, false)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, a := range []*account{r.alice, r.bob} {
			t.Logf("%s's events:\n%s", a.name, a.led.dump())
			n, err := srv.OfflineCount(context.Background(), a.name)
			if err == nil {
				t.Logf("%s: messages in offline storage: %d", a.name, n)
			}
		}
	})
	return r
}

func (r *rig) start(t *testing.T, name, addr string, policy suspend.Policy, withApp bool) *account {
	t.Helper()
	tlsCfg, err := session.TLSConfig(r.srv.Domain(), r.srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	a := &account{name: name, jid: name + "@" + r.srv.Domain(), led: newLedger()}
	var d net.Dialer
	base := func(ctx context.Context, network, address string) (net.Conn, error) {
		a.dials.Add(1)
		return d.DialContext(ctx, network, address)
	}
	cfg := reconnect.Config{
		Session: session.Config{
			JID: a.jid, Password: integration.Password, Addr: addr, TLS: tlsCfg,
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
	if r.srv.Caps().OfflineRace && sm(a.led) {
		a.led.waitUntil(t, name+"'s presence handled", 10*time.Second, func() bool { return presenceAcked(a.led, time.Time{}) })
	}
	return a
}

// sm reports whether the account's last login has stream management.
func sm(l *ledger) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	on := false
	for _, e := range l.ev {
		if c, ok := e.(reconnect.Connected); ok {
			on = c.Login.SM
		}
	}
	return on
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

func (a *account) send(t *testing.T, to *account, bodies []string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := a.client.Send(context.Background(), to.jid, b); err != nil {
			t.Fatalf("%s send: %v", a.name, err)
		}
	}
}

func msgs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %02d", prefix, i)
	}
	return out
}

// cycle runs the scenario every test shares: traffic both ways, a
// suspension (with fault, if any, applied while suspended) during which the
// peer keeps writing, a resume, and traffic both ways again. It returns how
// long the repair took from Resume to the next Connected event.
func (r *rig) cycle(t *testing.T, suspendFor time.Duration, during func()) (repair time.Duration, connected reconnect.Connected) {
	t.Helper()
	alice, bob := r.alice, r.bob
	before := msgs("bob before", 5)
	bob.send(t, alice, before)
	if r.srv.Caps().OfflineRace && !sm(bob.led) {
		// Nothing acknowledges bob's initial presence (see presenceAcked),
		// but his messages reaching alice prove the server handled it:
		// his stanzas are handled in order.
		alice.led.waitUntil(t, "alice gets the first messages", 10*time.Second, func() bool { return alice.led.count(before) == 5 })
	}
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
	// Resume returns once the client is resuming; it is online again when
	// the probe answered or the repair is done.
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
	// Events come in order: a Connected, if any, came before that.
	if at, ev := alice.led.firstAfter(resumed, func(e reconnect.Event) bool { _, ok := e.(reconnect.Connected); return ok }); ev != nil {
		connected = ev.(reconnect.Connected)
		repair = at.Sub(resumed)
	}
	if r.srv.Caps().OfflineRace && repair != 0 && connected.Login.Fresh() {
		// A fresh session: bob may write to it only once the server has
		// handled its initial presence (see presenceAcked). Without stream
		// management nothing acknowledges the presence, but the offline
		// messages come once it is handled.
		if connected.Login.SM {
			alice.led.waitUntil(t, "alice's new presence handled", 10*time.Second, func() bool { return presenceAcked(alice.led, resumed) })
		} else {
			suspended := msgs("bob while suspended", 5)
			alice.led.waitUntil(t, "alice's offline messages", 10*time.Second, func() bool { return alice.led.count(suspended) == len(suspended) })
		}
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

func waitApp(t *testing.T, app *suspend.App, want suspend.State) {
	t.Helper()
	// Generous: under PolicyClose the logout waits for acknowledgements
	// (up to suspend.DefaultLogoutTimeout) and CI machines are slow.
	deadline := time.Now().Add(15 * time.Second)
	for app.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("app state %v, want %v", app.State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSuspendFaults(t *testing.T) {
	for _, tc := range []struct {
		fault suspend.Fault
		// The longest a repair may take: detection plus a resumption.
		within time.Duration
	}{
		{suspend.FaultRST, time.Second},
		{suspend.FaultReclaim, time.Second},
		// Silence is only found by the probe: 2 s here, plus a margin.
		{suspend.FaultBlackhole, 2*time.Second + time.Second},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			eachRig(t, rigOpts{policy: suspend.PolicyHold}, func(t *testing.T, r *rig) {
				repair, c := r.cycle(t, 500*time.Millisecond, func() {
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
		})
	}
}

// Hold without a fault: the socket survives, the probe says so, nothing is
// redone.
func TestSuspendHoldSurvives(t *testing.T) {
	eachRig(t, rigOpts{policy: suspend.PolicyHold}, func(t *testing.T, r *rig) {
		dials := r.alice.dials.Load()
		r.cycle(t, 300*time.Millisecond, nil)
		if n := r.alice.dials.Load(); n != dials {
			t.Errorf("%d new connections, want none: the held socket was fine", n-dials)
		}
	})
}

func TestSuspendPolicies(t *testing.T) {
	t.Run("detach", func(t *testing.T) {
		eachRig(t, rigOpts{policy: suspend.PolicyDetach}, func(t *testing.T, r *rig) {
			_, c := r.cycle(t, 500*time.Millisecond, nil)
			if !c.Login.Resumed {
				t.Errorf("detached stream not resumed: %+v", c.Login)
			}
		})
	})
	t.Run("close", func(t *testing.T) {
		eachRig(t, rigOpts{policy: suspend.PolicyClose}, func(t *testing.T, r *rig) {
			_, c := r.cycle(t, 500*time.Millisecond, nil)
			if c.Login.Resumed {
				t.Errorf("resumed a stream that was closed: %+v", c.Login)
			}
		})
	})
}

// Suspended longer than the server keeps the stream: a fresh session, and
// what the peer wrote meanwhile (in the expired stream's queue) comes from
// offline storage.
func TestSuspendLongerThanHibernation(t *testing.T) {
	eachRig(t, rigOpts{policy: suspend.PolicyDetach, hibernation: time.Second}, func(t *testing.T, r *rig) {
		if !r.srv.Caps().ExpiredToOffline {
			t.Fatalf("%s bounces an expired stream's messages: this test needs them in offline storage", r.srv.Name())
		}
		_, c := r.cycle(t, r.srv.Hibernation()+1500*time.Millisecond, nil)
		if c.Login.Resumed {
			t.Fatalf("resumed after hibernation expired: %+v", c.Login)
		}
	})
}

// The server is unreachable during the suspension and comes back a few
// seconds after the resume: attempts follow the backoff schedule, no more.
func TestSuspendServerDown(t *testing.T) {
	eachRig(t, rigOpts{policy: suspend.PolicyHold, viaProxy: true}, func(t *testing.T, r *rig) {
		var dialsAtResume int64
		upAfter := 3 * time.Second
		_, c := r.cycle(t, 300*time.Millisecond, func() {
			if err := r.proxy.Down(); err != nil {
				t.Fatal(err)
			}
			dialsAtResume = r.alice.dials.Load()
			time.AfterFunc(300*time.Millisecond+upAfter, func() { r.proxy.Up() })
		})
		attempts := r.alice.dials.Load() - dialsAtResume
		// Initial 300ms doubling to a 1s cap, full jitter with a 100ms
		// floor: at most about upAfter/100ms in the worst case; with the
		// schedule's growth far fewer. A hot loop would make hundreds.
		if attempts < 2 || attempts > 20 {
			t.Errorf("%d dial attempts while the server was down for %v", attempts, upAfter)
		}
		t.Logf("%d dial attempts; login after: %+v", attempts, c.Login)
	})
}

// Without stream management everything still works, with the weaker
// guarantee said in a warning: every login is fresh, the liveness probe is a
// XEP-0199 ping, and what the peer writes meanwhile waits in offline storage.
func TestWithoutStreamManagement(t *testing.T) {
	for _, policy := range []suspend.Policy{suspend.PolicyDetach, suspend.PolicyHold} {
		t.Run(policy.String(), func(t *testing.T) {
			eachRig(t, rigOpts{policy: policy, noSM: true}, func(t *testing.T, r *rig) {
				_, c := r.cycle(t, 300*time.Millisecond, nil)
				if c.Login.Resumed || c.Login.SM {
					t.Errorf("login %+v on a server without SM", c.Login)
				}
				r.alice.led.mu.Lock()
				defer r.alice.led.mu.Unlock()
				warned := false
				for _, e := range r.alice.led.ev {
					if w, ok := e.(reconnect.Warning); ok && strings.Contains(w.Text, "stream management") {
						warned = true
					}
				}
				if !warned {
					t.Error("no warning that delivery is not guaranteed")
				}
			})
		})
	}
}
