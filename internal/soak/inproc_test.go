//go:build unix

package soak_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// inprocMaxStanza is the in-process client's stanza cap: small enough that
// 250 KB of apostrophes, which Prosody sends as 1.5 MB of &apos;, is skipped
// rather than delivered, so that both outcomes of a hostile stanza occur.
const inprocMaxStanza = 1 << 20

// events records a client's events with the time they were delivered.
type events = integration.Recorder[reconnect.Event]

func isDead(ev reconnect.Event) bool      { _, ok := ev.(reconnect.Dead); return ok }
func isConnected(ev reconnect.Event) bool { _, ok := ev.(reconnect.Connected); return ok }

// side is the in-process account (alice): a supervised client inside a
// simulated app. Three apps share the client, one per policy, their dialers
// chained so that each sees (and freezes) the connection; faults go through
// the innermost one (hold), which holds the TCP socket itself, so that a
// reset is a real RST.
type side struct {
	name, jid string
	peerJID   string
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

func (r *rig) startSide(ctx context.Context, name, peer string) *side {
	t := r.t
	tlsCfg, err := session.TLSConfig(r.srv.Domain(), r.srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	s := &side{name: name, jid: name + "@" + r.srv.Domain(), peerJID: peer + "@" + r.srv.Domain(), ev: &events{}, apps: map[suspend.Policy]*suspend.App{}}
	cfg := reconnect.Config{
		Session: session.Config{
			JID: s.jid, Password: pw, Addr: r.srv.Addr(), TLS: tlsCfg,
			Logger:         slog.New(slog.DiscardHandler),
			MaxStanzaBytes: inprocMaxStanza,
		},
		ProbeTimeout: time.Second,
		IdleProbe:    time.Second, // finds a black hole on an active connection
		Backoff:      reconnect.Backoff{Initial: 200 * time.Millisecond, Max: time.Second},
		Logger:       slog.New(slog.DiscardHandler),
		OnEvent: func(e reconnect.Event) {
			switch e := e.(type) {
			case reconnect.Received:
				r.received(name, e.Message.From, e.Message.ID, e.Message.Body, e.Message.Delayed())
			case reconnect.Duplicate:
				if from, _, ok := parseBody(e.Message.Body); ok {
					r.led.Dropped(from)
				}
			case reconnect.Skipped:
				r.skipped(name, e.From, e.ID, e.Reason.String())
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
			s.ev.On(e)
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
	if err := s.waitOnline(time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	return s
}

// parseBody parses a numbered message, "sender n".
func parseBody(b string) (string, int, bool) {
	from, num, ok := strings.Cut(b, " ")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	return from, n, err == nil
}

// sendLoop sends numbered messages to the peer until stop is closed, except
// while the app is suspended: a suspended app runs no code.
func (s *side) sendLoop(ctx context.Context, r *rig, stop <-chan struct{}) {
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
		m, err := s.client.Send(ctx, s.peerJID, s.name+" "+strconv.Itoa(s.next))
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

// waitOnline waits until s is online; with reconnected, until it has also
// logged in again since t0.
func (s *side) waitOnline(t0 time.Time, reconnected bool) error {
	if reconnected {
		if _, _, ok := s.ev.First(t0, backTimeout, isConnected); !ok {
			return fmt.Errorf("%s: no login within %v (state %v)", s.name, backTimeout, s.client.Status())
		}
	}
	deadline := time.Now().Add(backTimeout)
	for s.client.Status() != reconnect.Online {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not online within %v (state %v)", s.name, backTimeout, s.client.Status())
		}
		select {
		case <-s.ev.Arrived():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// settled reports whether s is online with nothing queued or
// unacknowledged.
func (s *side) settled() bool {
	if s.client.Status() != reconnect.Online || s.client.Queued() > 0 {
		return false
	}
	ss, ok := s.client.SessionInfo()
	return ok && ss.State.Pending() == 0
}

// relogin logs s out and in again: a fresh session, which collects what
// offline storage holds.
func (s *side) relogin(ctx context.Context) error {
	t0 := time.Now()
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	err := s.client.Logout(lctx)
	lcancel()
	if err != nil {
		slog.Default().Debug("logout", "err", err)
	}
	s.client.Unpause()
	return s.waitOnline(t0, true)
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
func (r *rig) active(f suspend.Fault) error {
	s := r.alice
	t0 := time.Now()
	if err := s.apps[suspend.PolicyHold].Inject(f); err != nil {
		return err
	}
	return s.waitOnline(t0, true)
}

// suspension: the app goes to the background with a short task window,
// which expires (or the app ends it early); the policy runs; the app is
// suspended for d, during which fault (if any) hits the held connection;
// then the app resumes.
func (r *rig) suspension(p suspend.Policy, f suspend.Fault, d time.Duration) error {
	s := r.alice
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
	return s.waitOnline(t0, p != suspend.PolicyHold || f != 0 || d > hibernation)
}

// backInTime: to the background and back before the window ends.
func (r *rig) backInTime() error {
	s := r.alice
	app := s.apps[suspend.Policy(r.rnd.IntN(3))]
	if err := app.BeginBackgroundTask(5*time.Second, nil); err != nil {
		return err
	}
	time.Sleep(time.Duration(50+r.rnd.IntN(200)) * time.Millisecond)
	if err := app.Resume(); err != nil {
		return err
	}
	return s.waitOnline(time.Time{}, false)
}
