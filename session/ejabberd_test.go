package session_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

// Integration tests against a second real server: Debian's ejabberd 23.01,
// started by internal/ejabberd. They are the Prosody tests of
// integration_test.go, written against xmppServer so that they run on
// either server. Erlang boots slowly (about 2 s), so two servers serve every
// test: one with the default resume_timeout and one with a short one for the
// expiry paths; each test uses accounts of its own.
//
// Messages go to full JIDs here, or to a bare JID whose session has long
// been up. A message to a bare JID sent right after the recipient's fresh
// login can be stranded in ejabberd's offline storage (see
// internal/ejabberd's doc); the reconnect tests, which use bare JIDs, wait
// for the recipient's presence to be acknowledged first.

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

// serverConfig is clientConfig for any server.
func serverConfig(t *testing.T, srv xmppServer, user string, on func(session.Event)) session.Config {
	t.Helper()
	tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	return session.Config{
		JID:      user + "@" + srv.Domain(),
		Password: testPassword,
		Addr:     srv.Addr(),
		TLS:      tlsCfg,
		OnEvent:  on,
	}
}

var ejAccounts struct {
	mu sync.Mutex
	n  int
}

// newAccounts registers fresh accounts (testPassword) for names on srv and
// returns their localparts, in order.
func newAccounts(t *testing.T, srv xmppServer, names ...string) []string {
	t.Helper()
	ejAccounts.mu.Lock()
	ejAccounts.n++
	n := ejAccounts.n
	ejAccounts.mu.Unlock()
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = fmt.Sprintf("%s%d", name, n)
		if err := srv.Register(t.Context(), out[i], testPassword); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestEjabberd(t *testing.T) {
	begin := time.Now()
	servers := integration.StartEjabberds(t,
		ejabberd.Options{},
		ejabberd.Options{Hibernation: 2 * time.Second},
	)
	long, short := servers[0], servers[1]
	t.Logf("two ejabberd servers up in %v", time.Since(begin))
	// Registered now, so that a SIGKILL restart need not wait for Mnesia to
	// put fresh accounts on disk (see ejabberd.Server.Restart).
	restartNames := map[syscall.Signal][]string{
		syscall.SIGTERM: newAccounts(t, long, "alice", "bob"),
		syscall.SIGKILL: newAccounts(t, long, "alice", "bob"),
	}

	t.Run("MessageRoundTrip", func(t *testing.T) { testRoundTrip(t, long) })
	t.Run("WrongPassword", func(t *testing.T) { testWrongPassword(t, long) })
	t.Run("UntrustedCertificate", func(t *testing.T) { testUntrustedCertificate(t, long) })
	t.Run("CountsAgree", func(t *testing.T) { testCountsAgree(t, long) })
	t.Run("RSTMidTraffic", func(t *testing.T) { testRSTMidTraffic(t, long) })
	t.Run("ResumeFromFile", func(t *testing.T) { testResumeFromFile(t, long) })
	t.Run("HibernationExpired", func(t *testing.T) {
		// Accounts of their own: the two can wait out the resumption time
		// together.
		t.Run("max passed", func(t *testing.T) { t.Parallel(); testExpired(t, short, false) })
		t.Run("server refuses", func(t *testing.T) { t.Parallel(); testExpired(t, short, true) })
	})
	// Last: restarts end every session on the server.
	t.Run("ServerRestart", func(t *testing.T) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(sig.String(), func(t *testing.T) { testServerRestart(t, long, sig, restartNames[sig]) })
		}
	})
}

func testRoundTrip(t *testing.T, srv xmppServer) {
	names := newAccounts(t, srv, "alice", "bob")
	bobBox := newInbox()
	bob := mustConnect(t, serverConfig(t, srv, names[1], bobBox.on), nil)
	alice := mustConnect(t, serverConfig(t, srv, names[0], nil), nil)
	if !alice.Login().SM || !bob.Login().SM {
		t.Fatal("the server offers XEP-0198 but it is not on")
	}
	if !alice.Login().CSI {
		t.Error("the server offers CSI (mod_client_state) but Login says it does not")
	}
	if st := alice.State(); st.Max != srv.Hibernation() || st.Location != "" || st.ID == "" {
		t.Errorf("state after <enabled/>: max %v location %q, want max %v and no location", st.Max, st.Location, srv.Hibernation())
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
	if len(got) != 1 || got[0].Body != "hello, bob" || !strings.HasPrefix(got[0].From, names[0]+"@"+srv.Domain()) || got[0].OriginID != m.ID {
		t.Fatalf("bob got %+v", got)
	}
	if err := alice.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := alice.State(); st.Resumable(time.Now()) {
		t.Error("state still resumable after a clean close")
	}
}

func testWrongPassword(t *testing.T, srv xmppServer) {
	names := newAccounts(t, srv, "alice")
	cfg := serverConfig(t, srv, names[0], nil)
	cfg.Password = "wrong password"
	_, err := session.Connect(context.Background(), cfg, nil)
	var ae *session.AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("err = %v, want an AuthError not-authorized", err)
	}
	if strings.Contains(err.Error(), "wrong password") {
		t.Error("the error shows the password")
	}
}

func testUntrustedCertificate(t *testing.T, srv xmppServer) {
	names := newAccounts(t, srv, "alice")
	cfg := serverConfig(t, srv, names[0], nil)
	cfg.TLS = nil // system roots: the self-signed certificate is not trusted
	_, err := session.Connect(context.Background(), cfg, nil)
	var ce *session.CertificateError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a CertificateError", err, err)
	}
}

// After enable, both sides agree on the counts after 100 stanzas each way.
func testCountsAgree(t *testing.T, srv xmppServer) {
	names := newAccounts(t, srv, "alice", "bob")
	aliceBox, bobBox := newInbox(), newInbox()
	alice := mustConnect(t, serverConfig(t, srv, names[0], aliceBox.on), nil)
	bob := mustConnect(t, serverConfig(t, srv, names[1], bobBox.on), nil)
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
	for _, s := range []*session.Session{alice, bob} {
		st := s.State()
		if st.OutH != 101 || len(st.Unacked) != 0 {
			t.Errorf("%s: out h=%d unacked=%d, want 101 and 0", s.JID(), st.OutH, len(st.Unacked))
		}
		if st.InH < 100 {
			t.Errorf("%s: in h=%d, want at least 100", s.JID(), st.InH)
		}
	}
	// The server's view of our inbound count: detach and resume; a
	// <resumed/> proves it accepted our h, and it resends nothing we had.
	// The state is taken after Detach, as a supervisor does: a copy taken
	// before may lack the last message (waitFor returns from inside
	// OnEvent, before the session counts the message), and resuming from
	// it gets that message again (integration_test.go's Prosody version
	// has that race).
	for i, s := range []*session.Session{alice, bob} {
		if err := s.Detach(); err != nil {
			t.Fatal(err)
		}
		st := s.State()
		box := newInbox()
		s2 := mustConnect(t, serverConfig(t, srv, names[i], box.on), st)
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
}

// The socket torn by RST in the middle of traffic both ways: resumed, and
// every message from both sides arrives exactly once.
func testRSTMidTraffic(t *testing.T, srv xmppServer) {
	names := newAccounts(t, srv, "alice", "bob")
	aliceBox, bobBox := newInbox(), newInbox()
	tr := &tracker{}
	aliceCfg := serverConfig(t, srv, names[0], aliceBox.on)
	aliceCfg.Dial = tr.dial
	alice := &resilient{t: t, cfg: aliceCfg, st: &session.State{}}
	bob := &resilient{t: t, cfg: serverConfig(t, srv, names[1], bobBox.on), st: &session.State{}}
	aliceJID, bobJID := alice.session().JID(), bob.session().JID()

	const n = 200
	toBob, toAlice := bodies("to bob", n), bodies("to alice", n)
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
	aliceBox.waitFor(t, n, 15*time.Second)
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	exactlyOnce(t, bobBox.all(), toBob)
	exactlyOnce(t, aliceBox.all(), toAlice)
	if alice.logins != 2 {
		t.Errorf("alice needed %d logins, want 2 (one resumption)", alice.logins)
	}
}

// The resumption time expired: a fresh session; our unconfirmed messages
// resent with a delay; the peer's messages come from offline storage
// (resend_on_timeout: if_offline); none lost, none duplicated.
func testExpired(t *testing.T, srv xmppServer, forgetMax bool) {
	names := newAccounts(t, srv, "alice", "bob")
	bobBox := newInbox()
	bob := mustConnect(t, serverConfig(t, srv, names[1], bobBox.on), nil)
	tr := &tracker{}
	aliceBox := newInbox()
	aliceCfg := serverConfig(t, srv, names[0], aliceBox.on)
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
	lost := bodies("unconfirmed", 3)
	for _, b := range lost {
		alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: b})
	}
	tr.rst()
	<-alice.Done()
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
		// ejabberd keeps the h of timed-out streams (mod_stream_mgmt's
		// cache) and answers <failed h/>.
		t.Fatalf("login = %+v (%v), want <failed h/>", l, l.ResumeFailed)
	case !forgetMax && unconfirmed == 0 && l.ResumeSkipped == "":
		t.Fatalf("login = %+v, want the resumption skipped for max", l)
	}
	got := alice2Box.waitFor(t, len(toAlice), 10*time.Second)
	for _, m := range got {
		if !m.Delayed() {
			t.Errorf("resent message %q without delay", m.Body)
		}
	}
	wantBob := append(append([]string(nil), before...), lost...)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(bobBox.all()) < len(wantBob) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	exactlyOnce(t, bobBox.all(), wantBob)
	exactlyOnce(t, append(aliceBox.all(), alice2Box.all()...), toAlice)
}

// Server restarted: a fresh session, the same guarantees as far as the
// server kept them. ejabberd forgets every stream at a restart: <failed/>
// without h after SIGTERM as after SIGKILL.
func testServerRestart(t *testing.T, srv xmppServer, sig syscall.Signal, names []string) {
	aliceBox := newInbox()
	aliceCfg := serverConfig(t, srv, names[0], aliceBox.on)
	st := &session.State{}
	alice := mustConnect(t, aliceCfg, st)
	bobBox := newInbox()
	bobCfg := serverConfig(t, srv, names[1], bobBox.on)
	bobSt := &session.State{}
	bob := mustConnect(t, bobCfg, bobSt)
	ctx := context.Background()
	m, _ := alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: "before restart"})
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
	if sig == syscall.SIGTERM {
		// ejabberd says goodbye: <stream:error><system-shutdown/>.
		var se *session.StreamError
		if !errors.As(alice.Err(), &se) || se.Condition != "system-shutdown" {
			t.Errorf("alice's session ended with %v, want a system-shutdown stream error", alice.Err())
		}
	}
	alice2 := mustConnect(t, aliceCfg, st)
	if alice2.Login().Resumed {
		t.Fatal("resumed a stream across a server restart")
	}
	if f := alice2.Login().ResumeFailed; f != nil && f.HKnown {
		t.Errorf("<failed h=%d/> after a restart; ejabberd 23.01 is known to give no h", f.H)
	}
	t.Logf("resumption: %+v (%v)", alice2.Login(), alice2.Login().ResumeFailed)
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
	exactlyOnce(t, bobBox.all(), []string{"before restart", after})
}

// State saved to a file, the session object discarded, a new one resumes
// from the file and nothing is lost or duplicated.
func testResumeFromFile(t *testing.T, srv xmppServer) {
	names := newAccounts(t, srv, "alice", "bob")
	path := t.TempDir() + "/state.json"
	account := names[0] + "@" + srv.Domain()
	aliceBox := newInbox()
	aliceCfg := serverConfig(t, srv, names[0], aliceBox.on)
	aliceCfg.Persist = func(st *session.State) {
		if err := st.Save(path, account); err != nil {
			t.Error(err)
		}
	}
	alice := mustConnect(t, aliceCfg, nil)
	bob := mustConnect(t, serverConfig(t, srv, names[1], nil), nil)
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
}
