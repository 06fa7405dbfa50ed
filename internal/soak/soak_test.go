package soak_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/internal/soak"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

var (
	cyclesFlag = flag.Int("soak.cycles", 0, "fault cycles of TestSoak (default: $XMPPBG_SOAK_CYCLES, else 50)")
	seedFlag   = flag.Uint64("soak.seed", 0, "seed of TestSoak's schedule (default: $XMPPBG_SOAK_SEED, else random)")
)

const (
	pw = "a long soak password"
	// hibernation is the server's smacks hibernation time: short, so that a
	// suspension can outlast it in a few seconds.
	hibernation = 2 * time.Second
	// sendEvery is each side's pace: about 50 messages a second each way.
	sendEvery = 20 * time.Millisecond
	// backTimeout bounds the wait for a client to be online again after a
	// fault.
	backTimeout = 60 * time.Second
)

// A kind of fault cycle. Each starts with both clients online and active and
// ends when they are online again.
type kind struct {
	name   string
	weight int // relative frequency in random draws
	run    func(r *rig, s *side) error
}

var kinds = []kind{
	// A fault on a live, active connection: found by a read or write error,
	// or (blackhole) by the idle probe.
	{"rst", 10, func(r *rig, s *side) error { return r.active(s, suspend.FaultRST) }},
	{"reclaim", 10, func(r *rig, s *side) error { return r.active(s, suspend.FaultReclaim) }},
	{"blackhole", 3, func(r *rig, s *side) error { return r.active(s, suspend.FaultBlackhole) }},
	// Suspensions shorter than the hibernation time, under each policy,
	// with each fault for the held connection.
	{"hold", 6, func(r *rig, s *side) error { return r.suspension(s, suspend.PolicyHold, 0, r.short()) }},
	{"hold+rst", 8, func(r *rig, s *side) error { return r.suspension(s, suspend.PolicyHold, suspend.FaultRST, r.short()) }},
	{"hold+reclaim", 6, func(r *rig, s *side) error {
		return r.suspension(s, suspend.PolicyHold, suspend.FaultReclaim, r.short())
	}},
	{"hold+blackhole", 3, func(r *rig, s *side) error {
		return r.suspension(s, suspend.PolicyHold, suspend.FaultBlackhole, r.short())
	}},
	{"detach", 8, func(r *rig, s *side) error { return r.suspension(s, suspend.PolicyDetach, 0, r.short()) }},
	{"close", 4, func(r *rig, s *side) error { return r.suspension(s, suspend.PolicyClose, 0, r.short()) }},
	// Suspensions longer than the hibernation time: the server gives the
	// stream up, and what it held goes to offline storage.
	{"detach, longer than hibernation", 2, func(r *rig, s *side) error {
		return r.suspension(s, suspend.PolicyDetach, 0, r.long())
	}},
	{"hold+rst, longer than hibernation", 2, func(r *rig, s *side) error {
		return r.suspension(s, suspend.PolicyHold, suspend.FaultRST, r.long())
	}},
	// Back before the background window ends: no policy runs.
	{"background, back in time", 5, func(r *rig, s *side) error { return r.backInTime(s) }},
	// Server restarts: both clients lose their connections.
	{"server restart (SIGTERM)", 2, func(r *rig, _ *side) error { return r.restart(syscall.SIGTERM) }},
	{"server restart (SIGKILL)", 2, func(r *rig, _ *side) error { return r.restart(syscall.SIGKILL) }},
}

// events records a client's events with the time they were delivered.
type events struct {
	mu   sync.Mutex
	ev   []reconnect.Event
	at   []time.Time
	wake chan struct{}
}

func (e *events) on(ev reconnect.Event) {
	now := time.Now()
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.at = append(e.at, now)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// first waits up to timeout for an event at or after t0 matching f.
func (e *events) first(t0 time.Time, timeout time.Duration, f func(reconnect.Event) bool) (time.Time, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		for i, ev := range e.ev {
			if !e.at[i].Before(t0) && f(ev) {
				at := e.at[i]
				e.mu.Unlock()
				return at, true
			}
		}
		e.mu.Unlock()
		select {
		case <-e.wake:
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// trim forgets events before t0.
func (e *events) trim(t0 time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := 0
	for i < len(e.at) && e.at[i].Before(t0) {
		i++
	}
	e.ev, e.at = slices.Clone(e.ev[i:]), slices.Clone(e.at[i:])
}

func isDead(ev reconnect.Event) bool      { _, ok := ev.(reconnect.Dead); return ok }
func isConnected(ev reconnect.Event) bool { _, ok := ev.(reconnect.Connected); return ok }

// side is one account: a supervised client inside a simulated app. Three
// apps share the client, one per policy, their dialers chained so that each
// sees (and freezes) the connection; faults go through the innermost one
// (hold), which holds the TCP socket itself, so that a reset is a real RST.
type side struct {
	name, jid string
	peer      *side
	client    *reconnect.Client
	apps      map[suspend.Policy]*suspend.App
	ev        *events
	next      int // the next message number; owned by the sender goroutine

	resumed, fresh, dead, resent, failed atomic.Int64
}

func (s *side) suspended() bool {
	for _, a := range s.apps {
		if a.State() == suspend.Suspended {
			return true
		}
	}
	return false
}

type rig struct {
	t      *testing.T
	srv    *prosody.Server
	led    *soak.Ledger
	rnd    *rand.Rand
	sides  [2]*side
	counts map[string]int
	errs   atomic.Int64 // unexpected send errors
}

func (r *rig) short() time.Duration { return time.Duration(100+r.rnd.IntN(500)) * time.Millisecond }
func (r *rig) long() time.Duration {
	return hibernation + time.Duration(1200+r.rnd.IntN(500))*time.Millisecond
}

func (r *rig) start(ctx context.Context, name string) *side {
	t := r.t
	tlsCfg, err := session.TLSConfig(r.srv.Domain(), r.srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	s := &side{name: name, jid: name + "@" + r.srv.Domain(), ev: &events{wake: make(chan struct{}, 1)}, apps: map[suspend.Policy]*suspend.App{}}
	cfg := reconnect.Config{
		Session: session.Config{
			JID: s.jid, Password: pw, Addr: r.srv.Addr(), TLS: tlsCfg,
			Logger: slog.New(slog.DiscardHandler),
		},
		ProbeTimeout: time.Second,
		IdleProbe:    time.Second, // finds a black hole on an active connection
		Backoff:      reconnect.Backoff{Initial: 200 * time.Millisecond, Max: time.Second},
		Logger:       slog.New(slog.DiscardHandler),
		OnEvent: func(e reconnect.Event) {
			switch e := e.(type) {
			case reconnect.Received:
				from, n, ok := parseBody(e.Message.Body)
				if !ok {
					r.t.Errorf("%s received an unexpected message %q", name, e.Message.Body)
					break
				}
				if err := r.led.Delivered(from, n, e.Message.Delayed()); err != nil {
					r.t.Error(err)
				}
			case reconnect.Duplicate:
				if from, _, ok := parseBody(e.Message.Body); ok {
					r.led.Dropped(from)
				}
			case reconnect.Acked:
				ids := make([]string, len(e.Stanzas))
				for i, st := range e.Stanzas {
					ids[i] = st.ID
				}
				r.led.Acked(name, ids, time.Now())
			case reconnect.Connected:
				if e.Login.Resumed {
					s.resumed.Add(1)
				} else {
					s.fresh.Add(1)
				}
			case reconnect.Dead:
				s.dead.Add(1)
			case reconnect.Resent:
				s.resent.Add(int64(len(e.Stanzas)))
			case reconnect.Failed:
				s.failed.Add(1)
			}
			s.ev.on(e)
		},
	}
	var d net.Dialer
	var chain suspend.DialFunc = d.DialContext
	for _, p := range []suspend.Policy{suspend.PolicyHold, suspend.PolicyDetach, suspend.PolicyClose} {
		// Created below; the dialer looks the app up when it dials.
		inner, pol := chain, p
		chain = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.apps[pol].Dial(inner)(ctx, network, addr)
		}
	}
	cfg.Session.Dial = chain
	s.client = reconnect.New(cfg)
	for _, p := range []suspend.Policy{suspend.PolicyHold, suspend.PolicyDetach, suspend.PolicyClose} {
		s.apps[p] = suspend.New(s.client, suspend.Options{Policy: p, LogoutTimeout: 2 * time.Second})
	}
	go s.client.Run(ctx)
	if err := r.waitOnline(s, time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	return s
}

func parseBody(b string) (string, int, bool) {
	from, num, ok := strings.Cut(b, " ")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	return from, n, err == nil
}

// send sends numbered messages to the peer until stop is closed, except
// while the app is suspended: a suspended app runs no code.
func (r *rig) send(ctx context.Context, s *side, stop <-chan struct{}) {
	tick := time.NewTicker(sendEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if s.suspended() {
			continue
		}
		m, err := s.client.Send(ctx, s.peer.jid, s.name+" "+strconv.Itoa(s.next))
		if errors.Is(err, reconnect.ErrQueueFull) {
			continue
		}
		if err != nil {
			r.errs.Add(1)
			r.t.Logf("%s: send: %v", s.name, err)
			continue
		}
		r.led.Sent(s.name, s.next, m.ID, time.Now())
		s.next++
	}
}

// waitOnline waits until s is online; with reconnect, until it has also
// logged in again since t0.
func (r *rig) waitOnline(s *side, t0 time.Time, reconnected bool) error {
	if reconnected {
		if _, ok := s.ev.first(t0, backTimeout, isConnected); !ok {
			return fmt.Errorf("%s: no login within %v (state %v)", s.name, backTimeout, s.client.Status())
		}
	}
	deadline := time.Now().Add(backTimeout)
	for s.client.Status() != reconnect.Online {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not online within %v (state %v)", s.name, backTimeout, s.client.Status())
		}
		select {
		case <-s.ev.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func waitApp(app *suspend.App, want suspend.State) error {
	deadline := time.Now().Add(15 * time.Second)
	for app.State() != want {
		if time.Now().After(deadline) {
			return fmt.Errorf("app %v, want %v", app.State(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// active breaks the live connection of an active app.
func (r *rig) active(s *side, f suspend.Fault) error {
	t0 := time.Now()
	if err := s.apps[suspend.PolicyHold].Inject(f); err != nil {
		return err
	}
	return r.waitOnline(s, t0, true)
}

// suspension: the app goes to the background with a short task window,
// which expires (or the app ends it early); the policy runs; the app is
// suspended for d, during which fault (if any) hits the held connection;
// then the app resumes.
func (r *rig) suspension(s *side, p suspend.Policy, f suspend.Fault, d time.Duration) error {
	app := s.apps[p]
	expired := make(chan struct{})
	if err := app.BeginBackgroundTask(time.Duration(50+r.rnd.IntN(250))*time.Millisecond, func() { close(expired) }); err != nil {
		return err
	}
	if r.rnd.IntN(4) == 0 {
		time.Sleep(time.Duration(r.rnd.IntN(50)) * time.Millisecond)
		// The window may have expired meanwhile: then the app is
		// suspended already, as on a phone.
		if err := app.EndBackgroundTask(); err != nil && !(errors.Is(err, suspend.ErrTransition) && app.State() == suspend.Suspended) {
			return err
		}
	} else {
		select {
		case <-expired:
		case <-time.After(10 * time.Second):
			return errors.New("the background window never expired")
		}
	}
	if err := waitApp(app, suspend.Suspended); err != nil {
		return err
	}
	if f != 0 {
		if err := app.Inject(f); err != nil {
			return fmt.Errorf("inject %v: %w", f, err)
		}
	}
	time.Sleep(d)
	t0 := time.Now()
	if err := app.Resume(); err != nil {
		return err
	}
	return r.waitOnline(s, t0, p != suspend.PolicyHold || f != 0 || d > hibernation)
}

// backInTime: to the background and back before the window ends.
func (r *rig) backInTime(s *side) error {
	app := s.apps[suspend.Policy(r.rnd.IntN(3))]
	if err := app.BeginBackgroundTask(5*time.Second, nil); err != nil {
		return err
	}
	time.Sleep(time.Duration(50+r.rnd.IntN(200)) * time.Millisecond)
	if err := app.Resume(); err != nil {
		return err
	}
	return r.waitOnline(s, time.Time{}, false)
}

// restart stops the server with sig and starts it again.
func (r *rig) restart(sig syscall.Signal) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.srv.Restart(ctx, sig); err != nil {
		return err
	}
	for _, s := range r.sides {
		at, ok := s.ev.first(t0, 10*time.Second, isDead)
		if !ok {
			return fmt.Errorf("%s never saw its connection die", s.name)
		}
		r.led.Restarted(s.name, at, sig)
	}
	for _, s := range r.sides {
		if err := r.waitOnline(s, t0, true); err != nil {
			return err
		}
	}
	return nil
}

// schedule draws n cycles: every kind once, the rest by weight, shuffled.
func schedule(rnd *rand.Rand, n int) []kind {
	out := slices.Clone(kinds)
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	for len(out) < n {
		x := rnd.IntN(total)
		for _, k := range kinds {
			if x < k.weight {
				out = append(out, k)
				break
			}
			x -= k.weight
		}
	}
	rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func settings() (cycles int, seed uint64) {
	cycles = *cyclesFlag
	if cycles <= 0 {
		cycles, _ = strconv.Atoi(os.Getenv("XMPPBG_SOAK_CYCLES"))
	}
	if cycles <= 0 {
		cycles = 50
	}
	seed = *seedFlag
	if seed == 0 {
		seed, _ = strconv.ParseUint(os.Getenv("XMPPBG_SOAK_SEED"), 10, 64)
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return cycles, seed
}

// TestSoak is the chaos soak (see the package documentation).
func TestSoak(t *testing.T) {
	cycles, seed := settings()
	if cycles < len(kinds) {
		t.Fatalf("%d cycles cannot cover the %d kinds of fault", cycles, len(kinds))
	}
	t.Logf("soak: %d cycles, seed %d (replay with XMPPBG_SOAK_SEED=%d XMPPBG_SOAK_CYCLES=%d)", cycles, seed, seed, cycles)
	srv := integration.StartProsody(t, prosody.Options{
		Accounts:    map[string]string{"alice": pw, "bob": pw},
		Hibernation: hibernation,
	})
	if srv.External() {
		t.Skip("the soak restarts the server: it needs a local one, not XMPPBG_TEST_SERVER")
	}
	r := &rig{t: t, srv: srv, led: soak.NewLedger(), rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), counts: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alice, bob := r.start(ctx, "alice"), r.start(ctx, "bob")
	alice.peer, bob.peer = bob, alice
	r.sides = [2]*side{alice, bob}

	stop := make(chan struct{})
	var senders sync.WaitGroup
	for _, s := range r.sides {
		senders.Go(func() { r.send(ctx, s, stop) })
	}
	start := time.Now()
	plan := schedule(r.rnd, cycles)
	for i, k := range plan {
		s := r.sides[r.rnd.IntN(2)]
		t0 := time.Now()
		if err := k.run(r, s); err != nil {
			close(stop)
			senders.Wait()
			t.Fatalf("cycle %d (%s, %s): %v\nledger so far: %v", i, k.name, s.name, err, r.led.Summary())
		}
		r.counts[k.name]++
		if testing.Verbose() && (i+1)%100 == 0 {
			t.Logf("%d cycles in %v: %v", i+1, time.Since(start).Round(time.Second), r.led.Summary())
		}
		for _, s := range r.sides {
			s.ev.trim(t0)
		}
		time.Sleep(time.Duration(50+r.rnd.IntN(150)) * time.Millisecond)
	}
	close(stop)
	senders.Wait()
	faults := time.Since(start)

	// Drain: everything sent must arrive. A message stored offline while
	// its receiver was already online again waits for the next fresh login:
	// if anything is missing after a while, both clients log in afresh (as
	// a user reopening the app later would), and what arrives then is
	// counted as late.
	drain := func(timeout time.Duration) bool {
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if r.led.Missing() == 0 && r.settled() {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	finalLogin := false
	if !drain(20 * time.Second) {
		finalLogin = true
		r.led.Final()
		for _, s := range r.sides {
			t0 := time.Now()
			lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.client.Logout(lctx)
			lcancel()
			if err != nil {
				t.Logf("%s: logout: %v", s.name, err)
			}
			s.client.Unpause()
			if err := r.waitOnline(s, t0, true); err != nil {
				t.Fatal(err)
			}
		}
		drain(20 * time.Second)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	sum := r.led.Summary()
	r.report(t, seed, plan, faults, finalLogin, sum)

	if sum.Duplicated > 0 || sum.Lost > 0 || sum.OrderViolations > 0 || sum.Unsent > 0 {
		t.Errorf("ledger: %v\n%s", sum, strings.Join(sum.Detail, "\n"))
	}
	if n := r.errs.Load(); n > 0 {
		t.Errorf("%d unexpected send errors", n)
	}
}

// settled reports whether both clients are online with nothing queued or
// unacknowledged.
func (r *rig) settled() bool {
	for _, s := range r.sides {
		if s.client.Status() != reconnect.Online || s.client.Queued() > 0 {
			return false
		}
		ss, ok := s.client.SessionInfo()
		if !ok || ss.State.Pending() > 0 {
			return false
		}
	}
	return true
}

func (r *rig) report(t *testing.T, seed uint64, plan []kind, took time.Duration, finalLogin bool, sum soak.Summary) {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak: %d fault cycles in %v (seed %d), hibernation %v, each side sending every %v.\n\n", len(plan), took.Round(time.Second), seed, hibernation, sendEvery)
	fmt.Fprintf(&b, "| cycle kind | count |\n|---|---|\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d |\n", k.name, r.counts[k.name])
	}
	fmt.Fprintf(&b, "\n| ledger | count |\n|---|---|\n")
	for _, row := range []struct {
		name string
		n    int
	}{
		{"messages sent (both ways)", sum.Sent},
		{"delivered exactly once", sum.Delivered},
		{"duplicated (delivered twice or more)", sum.Duplicated},
		{"lost (client failure)", sum.Lost},
		{"lost by server crash (acknowledged, then SIGKILL)", sum.LostByCrash},
		{"live order violations", sum.OrderViolations},
		{"late (stored or resent, carrying a delay)", sum.Late},
		{"first delivered with a delay", sum.Delayed},
		{"first delivered only after the final fresh login", sum.Final},
		{"duplicates dropped by the receiving session (origin-id)", sum.Dropped},
	} {
		fmt.Fprintf(&b, "| %s | %d |\n", row.name, row.n)
	}
	fmt.Fprintf(&b, "\n| client | resumed | fresh logins | dead connections | stanzas resent | iq failed |\n|---|---|---|---|---|---|\n")
	for _, s := range r.sides {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", s.name, s.resumed.Load(), s.fresh.Load(), s.dead.Load(), s.resent.Load(), s.failed.Load())
	}
	if finalLogin {
		fmt.Fprintf(&b, "\nSome messages had not arrived 20 s after the last cycle: both clients logged in afresh to collect offline storage.\n")
	}
	t.Logf("\n%s", b.String())
	if path := os.Getenv("XMPPBG_SOAK_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
