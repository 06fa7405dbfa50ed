package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

func connectErr(t *testing.T, cfg session.Config, st *session.State) (*session.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, cfg, st)
	if err == nil {
		t.Cleanup(s.Abort)
	}
	return s, err
}

// The modern login against a scripted SASL2 server, round trips counted on
// the wire (TCP included): the first login reads the features (5), then
// the State knows SASL2 and every later login sends the stream header and
// <authenticate/> in one flight: FAST + inline resumption 3, a fresh
// session after a failed inline resumption 3, a password login 4.
func TestSASL2FASTResumeRoundTrips(t *testing.T) {
	srv := newS2Server(t)
	var rt int
	cfg := srv.config(&rt)
	st := &session.State{}

	s := mustConnect(t, cfg, st)
	if got := srv.lastAuth().attr("mechanism"); got != "SCRAM-SHA-256-PLUS" {
		t.Errorf("first login with %s, want SCRAM-SHA-256-PLUS", got)
	}
	if s.Login().Resumed || !s.Login().SM {
		t.Fatalf("first login: %+v", s.Login())
	}
	if rt != 5 {
		t.Errorf("first login: %d round trips, want 5", rt)
	}
	first := s.State()
	if first.FAST == nil || first.FAST.Token != srv.issued[0] || first.FAST.Mechanism != "HT-SHA-256-EXPR" {
		t.Fatalf("no FAST token after the first login: %v", first.FAST)
	}
	if err := s.SendRaw(context.Background(), "message", "m1", "bob@example.org", `<message to="bob@example.org" id="m1"><body>hi</body></message>`); err != nil {
		t.Fatal(err)
	}
	detach(t, s)

	// FAST and inline resumption, in one flight after TLS.
	s = mustConnect(t, cfg, st)
	if !s.Login().Resumed {
		t.Fatalf("not resumed: %+v", s.Login())
	}
	if got := srv.lastAuth().attr("mechanism"); got != "HT-SHA-256-EXPR" {
		t.Errorf("resumed with %s, want HT-SHA-256-EXPR", got)
	}
	if rt != 3 {
		t.Errorf("FAST resumption: %d round trips, want 3", rt)
	}
	if got := s.State().FAST; got == nil || got.Token != srv.issued[len(srv.issued)-1] {
		t.Errorf("the newest token was not kept: %v", got)
	}
	detach(t, s)

	// The server lost the stream: <failed/>, then the Bind2 session of the
	// same request.
	srv.forget("streams")
	s = mustConnect(t, cfg, st)
	l := s.Login()
	if l.Resumed || l.ResumeFailed == nil || l.ResumeFailed.Condition != "item-not-found" || !l.SM {
		t.Fatalf("after a failed inline resumption: %+v (%v)", l, l.ResumeFailed)
	}
	if rt != 3 {
		t.Errorf("fresh session after failed inline resumption: %d round trips, want 3", rt)
	}
	detach(t, s)

	// The server forgot the token: the password, on a new connection,
	// still in one flight.
	srv.forget("tokens")
	s = mustConnect(t, cfg, st)
	if !s.Login().Resumed {
		t.Fatalf("not resumed with the password: %+v", s.Login())
	}
	if got := srv.lastAuth().attr("mechanism"); !strings.HasPrefix(got, "SCRAM-") {
		t.Errorf("fell back to %s, want SCRAM", got)
	}
	if rt != 4 {
		t.Errorf("password login in one flight: %d round trips, want 4", rt)
	}
	if got := s.State().FAST; got == nil || got.Token != srv.issued[len(srv.issued)-1] {
		t.Errorf("no new token after the password login: %v", got)
	}
}

// A server like Prosody 13: SCRAM-SHA-1 only (with -PLUS), FAST -NONE and
// -EXPR.
func TestSASL2ScramSHA1Plus(t *testing.T) {
	srv := newS2Server(t)
	srv.mechs = []string{"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "OAUTHBEARER"}
	srv.cbs = []string{"tls-exporter"}
	st := &session.State{}
	s := mustConnect(t, srv.config(nil), st)
	if got := srv.lastAuth().attr("mechanism"); got != "SCRAM-SHA-1-PLUS" {
		t.Errorf("logged in with %s, want SCRAM-SHA-1-PLUS", got)
	}
	if s.State().FAST == nil {
		t.Error("no token")
	}
}

// Lying servers: each lie is refused with a clear error before the
// session is used, and nothing secret is in the error.
func TestSASL2LyingServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		lie  func(*s2server)
		fast bool // log in with a token first
		cond string
		text string
	}{
		{"XEP-0474 downgrade", func(s *s2server) { s.wrongSSDP = true }, false, session.CondDowngrade, "tampered"},
		{"SCRAM server signature", func(s *s2server) { s.badSignature = true }, false, session.CondServerAuthFailed, "SCRAM-SHA-256-PLUS"},
		{"FAST additional-data", func(s *s2server) { s.badFASTProof = true }, true, session.CondServerAuthFailed, "FAST proof"},
		{"success without SCRAM", func(s *s2server) { s.noChallenge = true }, false, session.CondServerAuthFailed, "without proving"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newS2Server(t)
			cfg := srv.config(nil)
			st := &session.State{}
			if tc.fast {
				s := mustConnect(t, cfg, st)
				detach(t, s)
			}
			tc.lie(srv)
			before := st.Clone()
			_, err := connectErr(t, cfg, st)
			var ae *session.AuthError
			if !errors.As(err, &ae) || ae.Condition != tc.cond || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want an AuthError %s mentioning %q", err, tc.cond, tc.text)
			}
			for _, secret := range append([]string{srv.password}, srv.issued...) {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
			if tc.fast && (st.ID != before.ID || st.FAST == nil) {
				t.Errorf("a lying server changed the state: %v", st)
			}
		})
	}
}

// With SASL2 turned off, a server that offers both gets the classic login.
func TestSASL2Off(t *testing.T) {
	f := &fake{t: t}
	cfg := testConfig(f, nil)
	cfg.NoSASL2 = true
	s := mustConnect(t, cfg, &session.State{})
	if st := s.State(); len(st.SASL2) != 0 || st.FAST != nil {
		t.Errorf("SASL2 remembered with SASL2 off: %v", st)
	}
}

// The server changed its offer since the State remembered it (no more
// FAST, SCRAM-SHA-1 only): the token is refused, the remembered mechanism
// is not offered, and the login that reads the features first succeeds.
func TestSASL2OfferChanged(t *testing.T) {
	srv := newS2Server(t)
	cfg, st, s := srv.login(t)
	detach(t, s)
	srv.change(func(srv *s2server) { srv.fast, srv.mechs, srv.cbs = nil, []string{"SCRAM-SHA-1"}, nil })
	srv.forget("tokens")
	s = mustConnect(t, cfg, st)
	if l := s.Login(); !l.Resumed || l.Mechanism != "SCRAM-SHA-1" {
		t.Fatalf("after the offer changed: %+v", l)
	}
	if got := s.State(); strings.Join(got.SASL2, " ") != "SCRAM-SHA-1" || got.FAST != nil {
		t.Errorf("the new offer is not remembered: %v %v", got.SASL2, got.FAST)
	}
}

// On TLS 1.2 there is no tls-exporter: SCRAM without -PLUS, and the token
// is asked for and used with HT-SHA-256-NONE.
func TestSASL2TLS12FASTNone(t *testing.T) {
	srv := newS2Server(t)
	srv.tls12 = true
	cfg, st, s := srv.login(t)
	if l := s.Login(); l.Mechanism != "SCRAM-SHA-256" {
		t.Errorf("first login with %s, want SCRAM-SHA-256", l.Mechanism)
	}
	if tok := s.State().FAST; tok == nil || tok.Mechanism != "HT-SHA-256-NONE" {
		t.Fatalf("token %v, want one for HT-SHA-256-NONE", tok)
	}
	detach(t, s)
	s = mustConnect(t, cfg, st)
	if l := s.Login(); !l.Resumed || l.Mechanism != "HT-SHA-256-NONE" {
		t.Fatalf("second login: %+v", l)
	}
}

// SASL2 without Bind2 is left to the classic login, whichever feature
// mellium picks first (both orders are tried: the offer comes first or
// last).
func TestSASL2WithoutBind2IsClassic(t *testing.T) {
	for i := range 8 {
		f := &fake{t: t, sasl2: `<authentication xmlns='urn:xmpp:sasl:2'><mechanism>PLAIN</mechanism></authentication>`}
		s := mustConnect(t, testConfig(f, nil), &session.State{})
		if l := s.Login(); l.SASL2 || !l.SM {
			t.Fatalf("run %d: %+v", i, l)
		}
		s.Abort()
	}
}

// A message the old stream left unacknowledged, when the inline
// resumption fails: the fresh Bind2 session of the same round trip sends it
// again with a XEP-0203 delay and its origin-id, as the classic path does.
func TestSASL2FailedResumeResendsWithDelay(t *testing.T) {
	srv := newS2Server(t)
	cfg, st, s := srv.login(t)
	srv.change(func(srv *s2server) { srv.noAck = true })
	m, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "unconfirmed"})
	if err != nil {
		t.Fatal(err)
	}
	detach(t, s)
	if n := len(st.Unacked); n != 1 {
		t.Fatalf("%d unacknowledged, want 1", n)
	}
	srv.change(func(srv *s2server) {
		srv.noAck = false
		srv.stanzas = nil
	})
	srv.forget("streams")
	s = mustConnect(t, cfg, st)
	if l := s.Login(); l.Resumed || l.ResumeFailed == nil {
		t.Fatalf("login: %+v", l)
	}
	if err := s.WaitAcked(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var resent *elem
	for i, e := range srv.stanzas {
		if e.XMLName.Local == "message" {
			resent = &srv.stanzas[i]
		}
	}
	if resent == nil {
		t.Fatalf("not resent: %v", srv.stanzas)
	}
	_, delayed := resent.child("delay")
	oid, _ := resent.child("origin-id")
	if !delayed || oid.attr("id") != m.ID {
		t.Errorf("resent without delay or origin-id: %s", resent)
	}
}

// Once the server has proved it knows the password (SCRAM) or a token
// (FAST), an offer of PLAIN alone can only come from someone on the path
// (a stolen key, a CA that should not have signed): the password is never
// handed over then, neither by SASL2 nor by the classic login (XEP-0474
// §business rules: pin the use of SCRAM).
func TestSASL2PinsSCRAM(t *testing.T) {
	srv := newS2Server(t)
	cfg, st, s := srv.login(t)
	detach(t, s)
	if !st.NoPLAIN {
		t.Fatal("a SCRAM login did not pin SCRAM")
	}
	srv.change(func(srv *s2server) { srv.mechs, srv.cbs, srv.fast = []string{"PLAIN"}, nil, nil })
	srv.forget("tokens")
	_, err := connectErr(t, cfg, st)
	wantDowngrade(t, "PLAIN only", err, "")
	srv.mu.Lock()
	for _, a := range srv.auths {
		if a.attr("mechanism") == "PLAIN" {
			t.Errorf("the password went out with PLAIN: %s", a)
		}
	}
	srv.mu.Unlock()

	// The classic login, PLAIN only, from a server that never gave
	// XEP-0474's hash (else that pin, TestSASL2PinsSSDP, refuses first).
	st.SSDP = false
	f := &fake{t: t}
	_, err = connectErr(t, testConfig(f, nil), st)
	wantDowngrade(t, "classic login", err, "")
}

// The server still offers SCRAM-SHA-256-PLUS but no longer tls-exporter
// (TLS now ends at an offloader that gives tls-server-end-point only): the
// one-flight login the State remembers would bind to tls-exporter, which
// the server refuses. It reads the features first instead, and logs in
// without channel binding, the change checked by XEP-0474's hash; it used
// to fail, and every later login the same way.
func TestSASL2ChannelBindingsChanged(t *testing.T) {
	srv := newS2Server(t)
	cfg, st, s := srv.login(t)
	if l := s.Login(); l.Mechanism != "SCRAM-SHA-256-PLUS" {
		t.Fatalf("first login with %s, want SCRAM-SHA-256-PLUS", l.Mechanism)
	}
	detach(t, s)
	srv.change(func(srv *s2server) { srv.cbs = []string{"tls-server-end-point"} })
	srv.forget("tokens")
	s = mustConnect(t, cfg, st)
	if l := s.Login(); !l.Resumed || l.Mechanism != "SCRAM-SHA-256" {
		t.Fatalf("after tls-exporter went away: %+v", l)
	}
	if got := s.State().ChannelBindings; strings.Join(got, " ") != "tls-server-end-point" {
		t.Errorf("the new channel bindings are not remembered: %v", got)
	}
}

// Once the server has proved its SASL2 offer with XEP-0474's hash, a login
// without it is refused as a downgrade: a SCRAM challenge without the hash,
// or no SASL2 offered at all (the classic login, which mellium runs
// without any XEP-0474 check, and which would drop channel binding). A
// user who turns SASL2 off (Config.NoSASL2) chose the classic login.
func TestSASL2PinsSSDP(t *testing.T) {
	srv := newS2Server(t)
	cfg, st, s := srv.login(t)
	detach(t, s)
	if !st.SSDP {
		t.Fatal("a login with XEP-0474's hash checked did not pin it")
	}
	srv.change(func(srv *s2server) { srv.noSSDP = true })
	srv.forget("tokens")
	st.FAST = nil // a SCRAM login, with its challenge
	_, err := connectErr(t, cfg, st)
	wantDowngrade(t, "SCRAM challenge without the hash", err, "XEP-0474")

	// No SASL2 at all: the classic login is refused before it starts.
	// (The remembered offer is dropped as a one-flight login to a server
	// without SASL2 does before it reads the features: the fake takes one
	// connection only.)
	st.SASL2 = nil
	f := &fake{t: t}
	_, err = connectErr(t, testConfig(f, nil), st)
	wantDowngrade(t, "classic login", err, "no SASL2")
	if !st.SSDP {
		t.Fatal("the refused logins forgot the pin")
	}
	// Unless SASL2 is turned off by the user.
	f = &fake{t: t}
	cfg2 := testConfig(f, nil)
	cfg2.NoSASL2 = true
	st2 := st.Clone()
	st2.NoPLAIN = false // the fake speaks PLAIN only: that pin is not the one tested
	if s, err := connectErr(t, cfg2, st2); err != nil {
		t.Fatalf("classic login with SASL2 off: %v", err)
	} else {
		s.Abort()
	}
}

// An inline <resumed/> whose h acknowledges more than was sent is refused
// as on the classic path: the stream ends with handled-count-too-high and
// the State still holds the unacknowledged message, resumable.
func TestSASL2ResumedHTooHigh(t *testing.T) {
	srv := newS2Server(t)
	cfg, st, s := srv.login(t)
	srv.change(func(srv *s2server) { srv.noAck = true })
	if _, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "unconfirmed"}); err != nil {
		t.Fatal(err)
	}
	detach(t, s)
	srv.change(func(srv *s2server) { srv.hTooHigh = true })
	before := st.Clone()
	_, err := connectErr(t, cfg, st)
	if !errors.Is(err, session.ErrAckOverflow) {
		t.Fatalf("got %v, want ErrAckOverflow", err)
	}
	if st.ID != before.ID || len(st.Unacked) != 1 || st.OutH != before.OutH {
		t.Errorf("the refused <resumed/> changed the state: %v, want %v", st, before)
	}
}

// A token for HT-SHA-256-NONE (issued over TLS 1.2) is not used once the
// connection can bind the token to itself (TLS 1.3, HT-SHA-256-EXPR
// offered): XEP-0484 says channel binding MUST be preferred, and a -NONE
// login can be replayed by whoever sees it. The password login in its place
// asks for an -EXPR token, which the next login uses.
func TestSASL2PrefersBoundToken(t *testing.T) {
	srv := newS2Server(t)
	srv.tls12 = true
	cfg, st, s := srv.login(t)
	if tok := s.State().FAST; tok == nil || tok.Mechanism != "HT-SHA-256-NONE" {
		t.Fatalf("token %v, want one for HT-SHA-256-NONE", tok)
	}
	detach(t, s)
	srv.change(func(srv *s2server) { srv.tls12 = false })
	s = mustConnect(t, cfg, st)
	if l := s.Login(); l.Mechanism != "SCRAM-SHA-256-PLUS" {
		t.Errorf("on TLS 1.3 with a -NONE token: logged in with %s, want SCRAM-SHA-256-PLUS", l.Mechanism)
	}
	if tok := s.State().FAST; tok == nil || tok.Mechanism != "HT-SHA-256-EXPR" {
		t.Fatalf("token %v, want one for HT-SHA-256-EXPR", tok)
	}
	detach(t, s)
	s = mustConnect(t, cfg, st)
	if l := s.Login(); l.Mechanism != "HT-SHA-256-EXPR" {
		t.Errorf("third login with %s, want HT-SHA-256-EXPR", l.Mechanism)
	}
}

// wantDowngrade fails the test (what names the login) unless err is an
// AuthError downgrade-detected whose text holds text.
func wantDowngrade(t *testing.T, what string, err error, text string) {
	t.Helper()
	var ae *session.AuthError
	if !errors.As(err, &ae) || ae.Condition != session.CondDowngrade || !strings.Contains(ae.Text, text) {
		t.Fatalf("%s: got %v, want an AuthError %s saying %q", what, err, session.CondDowngrade, text)
	}
}
