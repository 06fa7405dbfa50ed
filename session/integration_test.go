package session_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// Integration tests: one suite, run by integration.Each against every real
// server the harnesses know (Prosody 0.12 and ejabberd 23.01 today), each
// test on a server of its own with the accounts alice and bob. Where the
// servers differ, a test asks integration.Caps, never the server's name.

// inbox records the chat messages a session receives, by body.
type inbox struct {
	mu   sync.Mutex
	msgs []session.Message
	wake chan struct{}
}

func newInbox() *inbox { return &inbox{wake: make(chan struct{}, 1)} }

func (b *inbox) on(e session.Event) {
	if r, ok := e.(session.Received); ok {
		b.mu.Lock()
		b.msgs = append(b.msgs, r.Message)
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

func (b *inbox) all() []session.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]session.Message(nil), b.msgs...)
}

// wait waits until n messages arrived and reports whether they did.
func (b *inbox) wait(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for len(b.all()) < n {
		select {
		case <-b.wake:
		case <-deadline:
			return false
		}
	}
	return true
}

// waitFor waits until n messages arrived, or fails the test.
func (b *inbox) waitFor(t *testing.T, n int, timeout time.Duration) []session.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := b.all(); len(m) >= n {
			return m
		}
		select {
		case <-b.wake:
		case <-deadline:
			got := b.all()
			var last string
			if len(got) > 0 {
				last = got[len(got)-1].Body
			}
			t.Fatalf("got %d messages, want %d (the last: %q)", len(got), n, last)
		}
	}
}

// logOffline logs, when the test has failed, how many messages wait in the
// users' offline storage, where the server can tell.
func logOffline(t *testing.T, srv integration.Server, users ...string) {
	t.Helper()
	if !t.Failed() {
		return
	}
	for _, u := range users {
		n, err := srv.OfflineCount(context.Background(), u)
		switch {
		case err == nil:
			t.Logf("%s: %d messages in offline storage", u, n)
		case !errors.Is(err, errors.ErrUnsupported):
			t.Logf("%s: offline storage: %v", u, err)
		}
	}
}

// dialWrapped is a Config.Dial that dials the real address and hands the
// connection to the test through wrap: to count round trips or tear it.
func dialWrapped(wrap func(net.Conn) net.Conn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}
}

// tracker wraps dialed connections so a test can break the current one.
type tracker struct {
	mu   sync.Mutex
	last net.Conn
}

func (tr *tracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		tr.mu.Lock()
		tr.last = c
		tr.mu.Unlock()
	}
	return c, err
}

// rst tears the current connection down with a TCP reset.
func (tr *tracker) rst() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tc, ok := tr.last.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	tr.last.Close()
}

func clientConfig(t *testing.T, srv integration.Server, user string, on func(session.Event)) session.Config {
	t.Helper()
	tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	return session.Config{
		JID:      user + "@" + srv.Domain(),
		Password: integration.Password,
		Addr:     srv.Addr(),
		TLS:      tlsCfg,
		OnEvent:  on,
	}
}

func mustConnect(t *testing.T, cfg session.Config, st *session.State) *session.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, cfg, st)
	if err != nil {
		t.Fatalf("Connect %s: %v", cfg.JID, err)
	}
	t.Cleanup(s.Abort)
	return s
}

// exactlyOnce checks that every body in want arrived exactly once.
func exactlyOnce(t *testing.T, got []session.Message, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, m := range got {
		count[m.Body]++
	}
	for _, w := range want {
		if count[w] != 1 {
			t.Errorf("%q arrived %d times, want once", w, count[w])
		}
		delete(count, w)
	}
	for body, n := range count {
		t.Errorf("unexpected %q (%d times)", body, n)
	}
}

// bodiesOf returns the messages' bodies.
func bodiesOf(msgs []session.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

// missing returns the bodies of want that are not in got.
func missing(got []session.Message, want []string) []string {
	have := map[string]bool{}
	for _, m := range got {
		have[m.Body] = true
	}
	var out []string
	for _, w := range want {
		if !have[w] {
			out = append(out, w)
		}
	}
	return out
}

func bodies(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %03d", prefix, i)
	}
	return out
}

func TestIntegrationMessageRoundTrip(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		bobBox := newInbox()
		bob := mustConnect(t, clientConfig(t, srv, "bob", bobBox.on), nil)
		alice := mustConnect(t, clientConfig(t, srv, "alice", nil), nil)
		if !alice.Login().SM || !bob.Login().SM {
			t.Fatal("the server offers XEP-0198 but it is not on")
		}
		if !alice.Login().CSI {
			t.Error("the server offers CSI but Login says it does not")
		}
		if st := alice.State(); st.Max != srv.Hibernation() || st.Location != "" || st.ID == "" {
			t.Errorf("state after <enabled/>: id %q max %v location %q, want an id, max %v and no location", st.ID, st.Max, st.Location, srv.Hibernation())
		}
		m, err := alice.SendMessage(context.Background(), session.Message{To: bob.JID(), Body: "hello, bob"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := alice.WaitAcked(ctx, m.ID); err != nil {
			t.Fatalf("WaitAcked: %v", err)
		}
		got := bobBox.waitFor(t, 1, 5*time.Second)
		if len(got) != 1 || got[0].Body != "hello, bob" || !strings.HasPrefix(got[0].From, "alice@"+srv.Domain()) || got[0].OriginID != m.ID {
			t.Fatalf("bob got %+v", got)
		}
		if err := alice.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if st := alice.State(); st.Resumable(time.Now()) {
			t.Error("state still resumable after a clean close")
		}
	})
}

func TestIntegrationWrongPassword(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		cfg := clientConfig(t, srv, "alice", nil)
		cfg.Password = "wrong password"
		_, err := session.Connect(context.Background(), cfg, nil)
		var ae *session.AuthError
		if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
			t.Fatalf("err = %v, want an AuthError not-authorized", err)
		}
		if strings.Contains(err.Error(), "wrong password") {
			t.Error("the error shows the password")
		}
	})
}

func TestIntegrationUntrustedCertificate(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		cfg := clientConfig(t, srv, "alice", nil)
		cfg.TLS = nil // system roots: the self-signed certificate is not trusted
		_, err := session.Connect(context.Background(), cfg, nil)
		var ce *session.CertificateError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v (%T), want a CertificateError", err, err)
		}
		cfg.TLS, _ = session.TLSConfig(srv.Domain(), "", true)
		s, err := session.Connect(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("with verification off: %v", err)
		}
		s.Abort()
	})
}

// After enable, both sides agree on the counts after 100 stanzas each way.
func TestIntegrationCountsAgree(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		aliceBox, bobBox := newInbox(), newInbox()
		alice := mustConnect(t, clientConfig(t, srv, "alice", aliceBox.on), nil)
		bob := mustConnect(t, clientConfig(t, srv, "bob", bobBox.on), nil)
		ctx := context.Background()
		var lastA, lastB string
		for i := range 100 {
			a, err := alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: fmt.Sprintf("a%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			b, err := bob.SendMessage(ctx, session.Message{To: alice.JID(), Body: fmt.Sprintf("b%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			lastA, lastB = a.ID, b.ID
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := alice.WaitAcked(wctx, lastA); err != nil {
			t.Fatal(err)
		}
		if err := bob.WaitAcked(wctx, lastB); err != nil {
			t.Fatal(err)
		}
		aliceBox.waitFor(t, 100, 10*time.Second)
		bobBox.waitFor(t, 100, 10*time.Second)
		// Our outbound count (what the server acknowledged) is the presence
		// plus 100 messages; the server must have acknowledged all of it,
		// and have nothing left unacknowledged on our side.
		for _, s := range []*session.Session{alice, bob} {
			st := s.State()
			if st.OutH != 101 || len(st.Unacked) != 0 {
				t.Errorf("%s: out h=%d unacked=%d, want 101 and 0", s.JID(), st.OutH, len(st.Unacked))
			}
			// Inbound: 100 messages and at least our own presence
			// reflected back.
			if st.InH < 100 {
				t.Errorf("%s: in h=%d, want at least 100", s.JID(), st.InH)
			}
		}
		// The server's view of our inbound count: detach and resume; a
		// <resumed/> proves it accepted our h, and it resends nothing we
		// had. The state is taken after Detach, as a supervisor does: a
		// copy taken before may lack the last message (waitFor returns from
		// inside OnEvent, before the session counts the message), and
		// resuming from it gets that message again.
		for i, s := range []*session.Session{alice, bob} {
			if err := s.Detach(); err != nil {
				t.Fatal(err)
			}
			st := s.State()
			box := newInbox()
			s2 := mustConnect(t, clientConfig(t, srv, []string{"alice", "bob"}[i], box.on), st)
			if !s2.Login().Resumed {
				t.Fatalf("not resumed: %+v", s2.Login())
			}
			if err := s2.Probe(ctx, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if n := len(box.all()); n != 0 {
				t.Errorf("%d messages resent after the server acknowledged everything", n)
			}
		}
	})
}

// The socket torn by RST in the middle of traffic both ways: resumed, and
// every message from both sides arrives exactly once.
func TestIntegrationRSTMidTraffic(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		aliceBox, bobBox := newInbox(), newInbox()
		tr := &tracker{}
		aliceCfg := clientConfig(t, srv, "alice", aliceBox.on)
		aliceCfg.Dial = tr.dial
		alice := &resilient{t: t, cfg: aliceCfg, st: &session.State{}}
		bob := &resilient{t: t, cfg: clientConfig(t, srv, "bob", bobBox.on), st: &session.State{}}
		aliceJID, bobJID := alice.session().JID(), bob.session().JID()

		const n = 200
		toBob, toAlice := bodies("to bob", n), bodies("to alice", n)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("alice: %d logins; missing: %q", alice.logins, missing(aliceBox.all(), toAlice))
				t.Logf("bob: missing: %q", missing(bobBox.all(), toBob))
				logOffline(t, srv, "alice", "bob")
			}
		})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range toAlice {
				bob.send(aliceJID, b)
			}
		}()
		for i, b := range toBob {
			if i == n/2 {
				first := alice.session()
				tr.rst()
				<-first.Done()
				var ce *session.ConnError
				if !errors.As(first.Err(), &ce) {
					t.Fatalf("after RST: %v, want a ConnError", first.Err())
				}
				if l := alice.session().Login(); !l.Resumed {
					t.Fatalf("not resumed after RST: %+v", l)
				}
			}
			alice.send(bobJID, b)
		}
		wg.Wait()
		alice.settle(15 * time.Second)
		bob.settle(15 * time.Second)
		bobBox.waitFor(t, n, 15*time.Second)
		var later *inbox
		if srv.Caps().ResumeHandoverRace && !aliceBox.wait(n, 15*time.Second) {
			// What bob wrote while alice's stream was handed to its new
			// connection may wait in offline storage: a fresh login of
			// alice (another resource) must bring exactly the rest.
			later = newInbox()
			mustConnect(t, clientConfig(t, srv, "alice", later.on), nil)
			// The server may hand them to either of alice's sessions.
			deadline := time.Now().Add(10 * time.Second)
			for len(aliceBox.all())+len(later.all()) < n {
				if time.Now().After(deadline) {
					t.Fatalf("alice got %d + %d messages, want %d", len(aliceBox.all()), len(later.all()), n)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("a fresh login of alice got %q", bodiesOf(later.all()))
		} else {
			aliceBox.waitFor(t, n, 15*time.Second)
		}
		time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
		exactlyOnce(t, bobBox.all(), toBob)
		gotAlice := aliceBox.all()
		if later != nil {
			gotAlice = append(gotAlice, later.all()...)
		}
		exactlyOnce(t, gotAlice, toAlice)
		switch {
		case srv.Caps().ReusesParser:
			// The resumed connection may be parsed with the torn one's XML
			// parser; when the tear cut a stanza, the resumed stream fails
			// with not-well-formed and a second (fresh) login repairs it.
			// Nothing is lost either way.
			if alice.logins > 2 {
				t.Logf("alice needed %d logins", alice.logins)
			}
		case alice.logins != 2:
			t.Errorf("alice needed %d logins, want 2 (one resumption)", alice.logins)
		}
	})
}

// resilient is a minimal supervisor for tests: whenever its session has
// ended, the next use logs in again with the same State, as package reconnect
// does.
type resilient struct {
	t      *testing.T
	cfg    session.Config
	st     *session.State
	mu     sync.Mutex
	cur    *session.Session
	logins int
}

func (r *resilient) session() *session.Session {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		select {
		case <-r.cur.Done():
		default:
			return r.cur
		}
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := session.Connect(ctx, r.cfg, r.st)
		cancel()
		if err == nil {
			r.cur = s
			r.logins++
			r.t.Cleanup(s.Abort)
			return s
		}
		if attempt == 5 {
			r.t.Fatalf("login %s: %v", r.cfg.JID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *resilient) send(to, body string) {
	r.t.Helper()
	if _, err := r.session().SendMessage(context.Background(), session.Message{To: to, Body: body}); err != nil {
		// Not taken: the session had just ended; the next one takes it.
		if _, err := r.session().SendMessage(context.Background(), session.Message{To: to, Body: body}); err != nil {
			r.t.Fatal(err)
		}
	}
}

// settle waits until the server has acknowledged everything sent.
func (r *resilient) settle(timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s := r.session()
		if s.State().Pending() == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.Probe(ctx, time.Second)
		cancel()
	}
	r.t.Fatalf("%s: %d stanzas still unacknowledged", r.cfg.JID, r.session().State().Pending())
}

// Hibernation expired: a fresh session; our unconfirmed messages resent with
// a delay; the peer's messages come from offline storage; none lost, none
// duplicated.
func TestIntegrationHibernationExpired(t *testing.T) {
	// Either the client knows from <enabled max/> that resuming is useless
	// and skips it, or it asks and the server answers <failed h/>.
	t.Run("max passed", func(t *testing.T) { testHibernationExpired(t, false) })
	t.Run("server refuses", func(t *testing.T) { testHibernationExpired(t, true) })
}

func testHibernationExpired(t *testing.T, forgetMax bool) {
	integration.Each(t, integration.Options{Hibernation: 2 * time.Second}, func(t *testing.T, srv integration.Server) {
		bobBox := newInbox()
		bob := mustConnect(t, clientConfig(t, srv, "bob", bobBox.on), nil)
		tr := &tracker{}
		aliceBox := newInbox()
		aliceCfg := clientConfig(t, srv, "alice", aliceBox.on)
		aliceCfg.Dial = tr.dial
		st := &session.State{}
		alice := mustConnect(t, aliceCfg, st)
		aliceJID := alice.JID()
		ctx := context.Background()

		before := bodies("before", 5)
		for _, b := range before {
			alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: b})
		}
		bobBox.waitFor(t, 5, 5*time.Second)
		// Alice sends, and the connection is torn before any
		// acknowledgement: the server may or may not have these, and alice
		// cannot know.
		lost := bodies("unconfirmed", 3)
		for _, b := range lost {
			alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: b})
		}
		tr.rst()
		<-alice.Done()
		alice.Abort() // the client knows the connection is gone: max counts from now
		// While alice is away and her stream hibernates, then expires, bob
		// writes.
		toAlice := bodies("while away", 4)
		for _, b := range toAlice {
			bob.SendMessage(ctx, session.Message{To: aliceJID, Body: b})
		}
		time.Sleep(srv.Hibernation() + 1500*time.Millisecond)
		if forgetMax {
			st.Max = 0 // as if the server had not said
		}
		unconfirmed := len(st.Unacked)

		alice2Box := newInbox()
		aliceCfg.OnEvent = alice2Box.on
		alice2 := mustConnect(t, aliceCfg, st)
		l := alice2.Login()
		switch {
		case l.Resumed:
			t.Fatalf("resumed an expired stream: %+v", l)
		case (forgetMax || unconfirmed > 0) && (l.ResumeFailed == nil || !l.ResumeFailed.HKnown):
			// Past max the client still asks when it has unconfirmed
			// stanzas: <failed h/> says which ones the server has (ejabberd
			// keeps the h of timed-out streams in a cache).
			t.Fatalf("login = %+v (%v), want <failed h/>", l, l.ResumeFailed)
		case !forgetMax && unconfirmed == 0 && l.ResumeSkipped == session.ResumeNotSkipped:
			t.Fatalf("login = %+v, want the resumption skipped for max", l)
		}
		if srv.Caps().ExpiredToOffline {
			got := alice2Box.waitFor(t, len(toAlice), 10*time.Second)
			for _, m := range got {
				if !m.Delayed() {
					t.Errorf("offline message %q without delay", m.Body)
				}
			}
		}
		// Bob gets every message exactly once: the unconfirmed ones either
		// went through before the cut or are resent now.
		wantBob := append(append([]string(nil), before...), lost...)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && len(bobBox.all()) < len(wantBob) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		exactlyOnce(t, bobBox.all(), wantBob)
		if srv.Caps().ExpiredToOffline {
			exactlyOnce(t, append(aliceBox.all(), alice2Box.all()...), toAlice)
		} else {
			// The server bounced them: none may arrive, least of all twice.
			exactlyOnce(t, append(aliceBox.all(), alice2Box.all()...), nil)
		}
	})
}

// Server restarted, by SIGTERM and by SIGKILL: a fresh session, the same
// guarantees as far as the server kept them.
func TestIntegrationServerRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			integration.Each(t, integration.Options{Restarts: true}, func(t *testing.T, srv integration.Server) {
				testServerRestart(t, srv, sig)
			})
		})
	}
}

func testServerRestart(t *testing.T, srv integration.Server, sig syscall.Signal) {
	aliceBox := newInbox()
	aliceCfg := clientConfig(t, srv, "alice", aliceBox.on)
	st := &session.State{}
	alice := mustConnect(t, aliceCfg, st)
	bobBox := newInbox()
	bobCfg := clientConfig(t, srv, "bob", bobBox.on)
	bobSt := &session.State{}
	bob := mustConnect(t, bobCfg, bobSt)
	ctx := context.Background()
	m, _ := alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: "before restart"})
	// Generous: an Erlang VM takes seconds to come back.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := alice.WaitAcked(wctx, m.ID); err != nil {
		t.Fatal(err)
	}
	bobBox.waitFor(t, 1, 5*time.Second)
	if err := srv.Restart(ctx, sig); err != nil {
		t.Fatal(err)
	}
	<-alice.Done()
	<-bob.Done()
	if cond := srv.Caps().ShutdownError; cond != "" && sig == syscall.SIGTERM {
		// The server says goodbye, e.g. <stream:error><system-shutdown/>,
		// or, when its shutdown outruns the connection's process (about
		// one in eight restarts of ejabberd 23.01, also before the
		// single-emitter change), just closes the connection. Anything
		// else is wrong.
		var (
			se *session.StreamError
			ce *session.ConnError
		)
		switch err := alice.Err(); {
		case errors.As(err, &se) && se.Condition == cond:
		case errors.As(err, &ce) && ce.Op == "read":
			t.Logf("the server closed the connection without a %s stream error: %v", cond, err)
		default:
			t.Errorf("alice's session ended with %v, want a %s stream error or the connection closed", err, cond)
		}
	}
	// Offline now: alice's next message waits in her state.
	alice2 := mustConnect(t, aliceCfg, st)
	l := alice2.Login()
	if l.Resumed {
		t.Fatal("resumed a stream across a server restart")
	}
	t.Logf("resumption: %+v (%v)", l, l.ResumeFailed)
	// Only a server that saved the stream at an orderly shutdown knows h.
	wantH := sig == syscall.SIGTERM && srv.Caps().FailedHAfterSIGTERM
	switch f := l.ResumeFailed; {
	case f == nil:
		t.Errorf("login %+v, want a <failed/> resumption", l)
	case wantH && !f.HKnown:
		t.Errorf("<failed/> without h after a %v restart; this server gives h", sig)
	case !wantH && f.HKnown:
		t.Errorf("<failed h=%d/> after a %v restart; this server is known to give no h", f.H, sig)
	}
	bob2 := mustConnect(t, bobCfg, bobSt)
	after := "after restart"
	m2, err := alice2.SendMessage(ctx, session.Message{To: bob2.JID(), Body: after})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice2.WaitAcked(wctx, m2.ID); err != nil {
		t.Fatal(err)
	}
	bobBox.waitFor(t, 2, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	// "before restart" may come twice from the server (offline storage of
	// a stanza bob handled but had not acknowledged when the server
	// stopped): bob's client drops the duplicate.
	exactlyOnce(t, bobBox.all(), []string{"before restart", after})
}

// State saved to a file, the session object discarded, a new one resumes
// from the file and nothing is lost or duplicated.
func TestIntegrationResumeFromFile(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		path := t.TempDir() + "/state.json"
		account := "alice@" + srv.Domain()
		aliceBox := newInbox()
		aliceCfg := clientConfig(t, srv, "alice", aliceBox.on)
		aliceCfg.Persist = func(st *session.State) {
			if err := st.Save(path, account); err != nil {
				t.Error(err)
			}
		}
		alice := mustConnect(t, aliceCfg, nil)
		bob := mustConnect(t, clientConfig(t, srv, "bob", nil), nil)
		ctx := context.Background()
		bob.SendMessage(ctx, session.Message{To: alice.JID(), Body: "first"})
		aliceBox.waitFor(t, 1, 5*time.Second)
		if err := alice.Detach(); err != nil {
			t.Fatal(err)
		}
		alice = nil
		bob.SendMessage(ctx, session.Message{To: account, Body: "while detached"})
		time.Sleep(200 * time.Millisecond)

		st, err := session.LoadState(path, account)
		if err != nil {
			t.Fatal(err)
		}
		box2 := newInbox()
		aliceCfg.OnEvent = box2.on
		alice2 := mustConnect(t, aliceCfg, st)
		if !alice2.Login().Resumed {
			t.Fatalf("not resumed from the file: %+v", alice2.Login())
		}
		box2.waitFor(t, 1, 5*time.Second)
		time.Sleep(300 * time.Millisecond)
		exactlyOnce(t, append(aliceBox.all(), box2.all()...), []string{"first", "while detached"})
	})
}

// turnCounter counts round trips from the wire: a turn is a burst of writes
// that follows a read (or the TCP connect), i.e. the client speaking after
// waiting for the server.
type turnCounter struct {
	net.Conn
	mu      sync.Mutex
	turns   int
	writing bool
}

func (c *turnCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.writing {
		c.turns++
		c.writing = true
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *turnCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
	}
	return n, err
}

func (c *turnCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.turns
}

// Round trips of a login and of a resumption, counted on the wire: the TCP
// connect plus each turn until the session is ready. Pipelining sends the
// request after SASL with the new stream header; direct TLS (XEP-0368) skips
// the plaintext stream and STARTTLS.
func TestIntegrationRoundTrips(t *testing.T) {
	integration.Each(t, integration.Options{DirectTLSPort: true}, func(t *testing.T, srv integration.Server) {
		if srv.DirectTLSAddr() == "" {
			t.Fatal("the server has no direct TLS port")
		}
		for _, tc := range []struct {
			name                  string
			direct, noPipe        bool
			wantFresh, wantResume int
		}{
			{"starttls", false, true, 10, 9},
			{"starttls pipelined", false, false, 9, 8},
			{"direct tls pipelined", true, false, 7, 6},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var last *turnCounter
				cfg := clientConfig(t, srv, "alice", nil)
				cfg.DirectTLS, cfg.NoPipelining, cfg.NoPresence = tc.direct, tc.noPipe, true
				if tc.direct {
					cfg.Addr = srv.DirectTLSAddr()
				}
				cfg.Dial = dialWrapped(func(c net.Conn) net.Conn { last = &turnCounter{Conn: c}; return last })
				// Counted up to the end of negotiation (<enabled/> or
				// <resumed/>); the TCP connect is a round trip too.
				var turns int
				session.OnNegotiated(&cfg, func() { turns = 1 + last.count() })
				st := &session.State{}
				s := mustConnect(t, cfg, st)
				fresh := turns
				if err := s.Detach(); err != nil {
					t.Fatal(err)
				}
				s2 := mustConnect(t, cfg, st)
				resume := turns
				if !s2.Login().Resumed {
					t.Fatalf("not resumed: %+v", s2.Login())
				}
				t.Logf("round trips: fresh login %d, resumption %d", fresh, resume)
				// The first fresh login has one more than a resumption:
				// until the server has offered stream management once,
				// <enable/> waits for its features.
				if fresh > tc.wantFresh || resume > tc.wantResume {
					t.Errorf("round trips: fresh %d (want ≤ %d), resume %d (want ≤ %d)", fresh, tc.wantFresh, resume, tc.wantResume)
				}
			})
		}
	})
}

// Archive catch-up (XEP-0313): messages written while the stream hibernated
// and then expired arrive exactly once, whether they come from offline
// storage, from the archive, or both.
func TestIntegrationArchiveCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name           string
		offline        bool
		queriedArchive bool // Prosody then keeps expired stanzas out of offline storage
	}{
		{"offline storage on", true, false},
		{"offline storage off", false, false},
		{"archive queried before", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := integration.Options{MAM: true, DisableOffline: !tc.offline, Hibernation: 2 * time.Second}
			integration.Each(t, o, func(t *testing.T, srv integration.Server) {
				testArchiveCatchUp(t, srv, tc.queriedArchive)
			})
		})
	}
}

func testArchiveCatchUp(t *testing.T, srv integration.Server, queriedArchive bool) {
	bobBox := newInbox()
	bob := mustConnect(t, clientConfig(t, srv, "bob", bobBox.on), nil)
	aliceBox := newInbox()
	tr := &tracker{}
	aliceCfg := clientConfig(t, srv, "alice", aliceBox.on)
	aliceCfg.Dial = tr.dial
	st := &session.State{}
	if queriedArchive {
		// A stream that cannot be resumed: the login after it catches up
		// from the archive.
		st = &session.State{ID: "gone", SM: true, LastAlive: time.Now()}
	}
	alice := mustConnect(t, aliceCfg, st)
	aliceJID := alice.JID()
	ctx := context.Background()
	before := bodies("before", 3)
	for _, b := range before {
		bob.SendMessage(ctx, session.Message{To: aliceJID, Body: b})
	}
	aliceBox.waitFor(t, 3, 5*time.Second)
	// Recorded once the message is handled, just after OnEvent.
	for deadline := time.Now().Add(5 * time.Second); alice.State().LastArchiveID == ""; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no archive id recorded from the live messages")
		}
	}
	tr.rst()
	<-alice.Done()
	// Each batch is acknowledged to bob before the test moves on: the
	// server then has routed it (ejabberd routes in the sender's process,
	// Prosody one stanza at a time), so the "while hibernating" ones reached
	// the hibernated stream and the "after expiry" ones are in storage (and
	// the archive) before alice logs in. A fixed pause is not enough under
	// load: a message still being routed when alice's initial presence pulls
	// offline storage lands there after the pull, and after the archive
	// query, and waits for her next login (integration.Caps.OfflineRace).
	away := bodies("while hibernating", 4)
	sendAcked(t, bob, aliceJID, away)
	time.Sleep(srv.Hibernation() + 1500*time.Millisecond)
	expired := bodies("after expiry", 2)
	sendAcked(t, bob, "alice@"+srv.Domain(), expired)
	defer logOffline(t, srv, "alice") // a message stranded there, if one is missing

	alice2 := mustConnect(t, aliceCfg, st)
	if alice2.Login().Resumed {
		t.Fatal("resumed an expired stream")
	}
	want := append(append(append([]string(nil), before...), away...), expired...)
	aliceBox.waitFor(t, len(want), 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	exactlyOnce(t, aliceBox.all(), want)
	t.Logf("archive: %d messages found", alice2.Login().Archived)
}

// sendAcked sends bodies from s to to, in order, and waits (10 s at most)
// until the server has acknowledged them all: it has them, whatever it
// does with them next.
func sendAcked(t *testing.T, s *session.Session, to string, bodies []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last string
	for _, b := range bodies {
		m, err := s.SendMessage(ctx, session.Message{To: to, Body: b})
		if err != nil {
			t.Fatal(err)
		}
		last = m.ID
	}
	if err := s.WaitAcked(ctx, last); err != nil {
		t.Fatalf("messages to %s not acknowledged: %v", to, err)
	}
}
