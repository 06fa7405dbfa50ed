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
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// Integration tests: the whole cycle (background window, suspension, a dead
// socket, resume, detection, repair) against a real Prosody, with a peer
// sending and receiving, and a ledger that every message arrives exactly
// once.

const pw = "a long test password"

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
	srv   *prosody.Server
	proxy *faultproxy.Proxy
	alice *account
	bob   *account
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	srv := integration.StartProsody(t, prosody.Options{
		Accounts:    map[string]string{"alice": pw, "bob": pw},
		Hibernation: o.hibernation,
		DisableSM:   o.noSM,
	})
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
			JID: a.jid, Password: pw, Addr: addr, TLS: tlsCfg,
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
	return a
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
			r := newRig(t, rigOpts{policy: suspend.PolicyHold})
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
	}
}

// Hold without a fault: the socket survives, the probe says so, nothing is
// redone.
func TestSuspendHoldSurvives(t *testing.T) {
	r := newRig(t, rigOpts{policy: suspend.PolicyHold})
	dials := r.alice.dials.Load()
	r.cycle(t, 300*time.Millisecond, nil)
	if n := r.alice.dials.Load(); n != dials {
		t.Errorf("%d new connections, want none: the held socket was fine", n-dials)
	}
}

func TestSuspendPolicies(t *testing.T) {
	t.Run("detach", func(t *testing.T) {
		r := newRig(t, rigOpts{policy: suspend.PolicyDetach})
		_, c := r.cycle(t, 500*time.Millisecond, nil)
		if !c.Login.Resumed {
			t.Errorf("detached stream not resumed: %+v", c.Login)
		}
	})
	t.Run("close", func(t *testing.T) {
		r := newRig(t, rigOpts{policy: suspend.PolicyClose})
		_, c := r.cycle(t, 500*time.Millisecond, nil)
		if c.Login.Resumed {
			t.Errorf("resumed a stream that was closed: %+v", c.Login)
		}
	})
}

// Suspended longer than the server keeps the stream: a fresh session, and
// what the peer wrote comes from offline storage.
func TestSuspendLongerThanHibernation(t *testing.T) {
	r := newRig(t, rigOpts{policy: suspend.PolicyDetach, hibernation: time.Second})
	if r.srv.Hibernation() > 5*time.Second {
		t.Skip("the external server's hibernation is too long for this test")
	}
	_, c := r.cycle(t, r.srv.Hibernation()+1500*time.Millisecond, nil)
	if c.Login.Resumed {
		t.Fatalf("resumed after hibernation expired: %+v", c.Login)
	}
}

// The server is unreachable during the suspension and comes back a few
// seconds after the resume: attempts follow the backoff schedule, no more.
func TestSuspendServerDown(t *testing.T) {
	r := newRig(t, rigOpts{policy: suspend.PolicyHold, viaProxy: true})
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
	// Initial 300ms doubling to a 1s cap, full jitter with a 100ms floor:
	// at most about upAfter/100ms in the worst case; with the schedule's
	// growth far fewer. A hot loop would make hundreds.
	if attempts < 2 || attempts > 20 {
		t.Errorf("%d dial attempts while the server was down for %v", attempts, upAfter)
	}
	t.Logf("%d dial attempts; login after: %+v", attempts, c.Login)
}

// Without stream management everything still works, with the weaker
// guarantee said in a warning: every login is fresh, the liveness probe is a
// XEP-0199 ping, and what the peer writes meanwhile waits in offline storage.
func TestWithoutStreamManagement(t *testing.T) {
	for _, policy := range []suspend.Policy{suspend.PolicyDetach, suspend.PolicyHold} {
		t.Run(policy.String(), func(t *testing.T) {
			r := newRig(t, rigOpts{policy: policy, noSM: true})
			if r.srv.External() {
				t.Skip("cannot turn stream management off on an external server")
			}
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
	}
}
