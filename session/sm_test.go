package session_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

func connect(t *testing.T, f *fake, c *collector, st *session.State) *session.Session {
	t.Helper()
	f.t = t
	cfg := testConfig(f, c.on)
	s, err := session.Connect(context.Background(), cfg, st)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(s.Abort)
	delivered(t, s)
	return s
}

// delivered waits until the events queued so far (those of the login, for
// one) have reached Config.OnEvent: they go out on the session's event
// goroutine, which may not have run yet when Connect returns.
func delivered(t *testing.T, s *session.Session) {
	t.Helper()
	select {
	case <-session.Delivered(s):
	case <-time.After(10 * time.Second):
		t.Fatal("the session's events were not delivered")
	}
}

func TestFreshLoginEnablesSM(t *testing.T) {
	f := &fake{}
	c := &collector{}
	s := connect(t, f, c, nil)
	if l := s.Login(); !l.SM || l.Resumed {
		t.Fatalf("login = %+v, want SM on, not resumed", l)
	}
	if got := s.JID(); got != "alice@example.org/res1" {
		t.Errorf("JID = %q", got)
	}
	f.expect("presence")
	f.expect("r") // the presence is counted and queued: an ack is requested
	st := s.State()
	if st.ID != "RID-secret" || st.Max != 600*time.Second || len(st.Unacked) != 1 {
		t.Errorf("state = %v id=%q max=%v", st, st.ID, st.Max)
	}
	if strings.Contains(st.String(), "RID-secret") || strings.Contains(fmt.Sprint(st.LogValue()), "RID-secret") {
		t.Errorf("state printed its resumption id: %v", st)
	}
}

// Only top-level message, presence and iq count; nonzas and whitespace never.
func TestInboundCountingRules(t *testing.T) {
	f := &fake{}
	c := &collector{}
	connect(t, f, c, nil)
	f.expect("presence")
	f.expect("r")
	f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expect("a").attr("h"); h != "0" {
		t.Fatalf("h = %s before any stanza, want 0", h)
	}
	f.send(`  <message from='bob@example.org/x' type='chat' id='m1'><body>hi</body></message>`)
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	f.send(`<presence from='bob@example.org/x'/>`)
	f.send("\n")
	f.send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	f.send(`<iq type='result' id='unknown' from='example.org'/>`)
	f.send(`<message from='bob@example.org/x' type='chat' id='m2'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expect("a").attr("h"); h != "1" {
		t.Fatalf("h = %s after one message, want 1", h)
	}
	if h := f.expect("a").attr("h"); h != "4" {
		t.Fatalf("h = %s after message, presence, iq, chat state; want 4", h)
	}
	// An iq request is answered, and the answer is a counted stanza.
	f.send(`<iq type='get' id='p1' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if e := f.expect("iq"); e.attr("type") != "result" || e.attr("id") != "p1" {
		t.Fatalf("ping answer = %s", e)
	}
	f.expect("r")
	f.send(`<iq type='get' id='v1' from='bob@example.org/x'><query xmlns='jabber:iq:version'/></iq>`)
	if e := f.expect("iq"); e.attr("type") != "error" {
		t.Fatalf("unknown request answered with %s, want an error", e)
	}
	f.send(`<a xmlns='urn:xmpp:sm:3' h='3'/><r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expect("a").attr("h"); h != "6" {
		t.Fatalf("h = %s, want 6", h)
	}
	var got []string
	for _, e := range c.all() {
		if r, ok := e.(session.Received); ok {
			got = append(got, r.Message.Body)
		}
	}
	if len(got) != 1 || got[0] != "hi" {
		t.Errorf("received %q, want [hi]", got)
	}
}

// h wraps from 2^32−1 to 0, on both sides.
func TestAckWraparound(t *testing.T) {
	f := &fake{resume: func(previd string, h uint32) string {
		if h != math.MaxUint32 {
			t.Errorf("resume h = %d, want %d", h, uint32(math.MaxUint32))
		}
		return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='4294967295'/>`
	}}
	st := &session.State{
		ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(), Max: time.Hour,
		InH: math.MaxUint32, OutH: math.MaxUint32 - 2,
		Unacked: []session.Stanza{msgStanza("a"), msgStanza("b"), msgStanza("c")},
	}
	c := &collector{}
	s := connect(t, f, c, st)
	if !s.Login().Resumed {
		t.Fatal("not resumed")
	}
	// a and b were acked by h=2^32−1; c is resent.
	if e := f.expect("message"); e.attr("id") != "c" {
		t.Fatalf("resent %s, want c", e)
	}
	f.expect("r")
	f.send(`<a xmlns='urn:xmpp:sm:3' h='0'/>`) // 2^32−1 + 1 wraps to 0
	f.send(`<message from='bob@example.org/x' type='chat' id='x'><body>wrap</body></message><r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expect("a").attr("h"); h != "0" {
		t.Fatalf("inbound h = %s after wrapping, want 0", h)
	}
	if n := len(s.State().Unacked); n != 0 {
		t.Errorf("%d unacked after h=0, want 0", n)
	}
}

func msgStanza(id string) session.Stanza {
	m := &session.Message{ID: id, To: "bob@example.org", Body: "body " + id, OriginID: id}
	return session.Stanza{Kind: "message", ID: id, To: m.To, Sent: time.Now().Add(-time.Minute),
		Raw: []byte(`<message to="bob@example.org" id="` + id + `" type="chat"><body>body ` + id + `</body><origin-id xmlns="urn:xmpp:sid:0" id="` + id + `"/></message>`), Message: m}
}

func iqStanza(id string) session.Stanza {
	return session.Stanza{Kind: "iq", ID: id, Raw: []byte(`<iq type="set" id="` + id + `"><query xmlns="jabber:iq:roster"/></iq>`)}
}

// After <resumed/>, what the server lacks goes out in order, then <r/>, and
// only then anything new.
func TestResumeResendsInOrderBeforeNewStanzas(t *testing.T) {
	f := &fake{resume: func(string, uint32) string {
		return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='11'/>`
	}}
	st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(), OutH: 10,
		Unacked: []session.Stanza{msgStanza("m1"), msgStanza("m2"), msgStanza("m3")}}
	c := &collector{}
	s := connect(t, f, c, st)
	sent, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "new"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for range 3 {
		e := f.expectSkippingR("message")
		order = append(order, e.attr("id"))
	}
	want := []string{"m2", "m3", sent.ID}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("order = %v, want %v", order, want)
	}
}

// The same, with the application sending as fast as it can the moment the
// session is back: nothing new may overtake a resend.
func TestResendNewSendRace(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f := &fake{resume: func(string, uint32) string {
				return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>`
			}}
			var unacked []session.Stanza
			for j := range 5 {
				unacked = append(unacked, msgStanza(fmt.Sprintf("old%d", j)))
			}
			st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(), Unacked: unacked}
			c := &collector{}
			s := connect(t, f, c, st)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for j := range 5 {
					s.SendMessage(context.Background(), session.Message{ID: fmt.Sprintf("new%d", j), To: "bob@example.org", Body: "x"})
				}
			}()
			for j := range 10 {
				e := f.expectSkippingR("message")
				want := fmt.Sprintf("old%d", j)
				if j >= 5 {
					want = fmt.Sprintf("new%d", j-5)
				}
				if e.attr("id") != want {
					t.Fatalf("message %d = %s, want %s", j, e.attr("id"), want)
				}
			}
			<-done
		})
	}
}

// <failed h='N'/>: drop what the server got, bind, enable, presence, then the
// other messages again with delay and origin-id; never an iq.
func TestFailedResumptionWithH(t *testing.T) {
	f := &fake{resume: func(string, uint32) string {
		return `<failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`
	}}
	st := &session.State{ID: "RID", JID: "alice@example.org/old", LastAlive: time.Now(), InH: 7,
		Unacked: []session.Stanza{msgStanza("m1"), iqStanza("q1"), msgStanza("m2")}}
	c := &collector{}
	s := connect(t, f, c, st)
	l := s.Login()
	if l.Resumed || l.ResumeFailed == nil || !l.ResumeFailed.HKnown || l.ResumeFailed.Condition != "item-not-found" {
		t.Fatalf("login = %+v (%v)", l, l.ResumeFailed)
	}
	f.expectSkippingR("presence")
	e := f.expectSkippingR("message")
	if e.attr("id") != "m2" {
		t.Fatalf("resent %s, want only m2", e)
	}
	d, ok := e.child("delay")
	if !ok || d.XMLName.Space != "urn:xmpp:delay" || d.attr("stamp") == "" || d.attr("from") != "alice@example.org" {
		t.Errorf("resent message lacks a proper delay: %s", e)
	}
	if o, ok := e.child("origin-id"); !ok || o.attr("id") != "m2" {
		t.Errorf("resent message lacks its origin-id: %s", e)
	}
	var failed []string
	var acked []string
	for _, ev := range c.all() {
		switch ev := ev.(type) {
		case session.Failed:
			failed = append(failed, ev.Stanza.ID)
		case session.Acked:
			for _, r := range ev.Stanzas {
				acked = append(acked, r.ID)
			}
		}
	}
	if strings.Join(failed, ",") != "q1" {
		t.Errorf("failed = %v, want [q1]", failed)
	}
	if strings.Join(acked, ",") != "m1" {
		t.Errorf("acked = %v, want [m1]", acked)
	}
	st2 := s.State()
	if st2.ID != "RID-secret" || len(st2.Orphans) != 0 {
		t.Errorf("state after failed resumption = %v", st2)
	}
}

func TestFailedResumptionWithoutH(t *testing.T) {
	f := &fake{resume: func(string, uint32) string {
		return `<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`
	}}
	st := &session.State{ID: "RID", LastAlive: time.Now(), Unacked: []session.Stanza{msgStanza("m1"), msgStanza("m2")}}
	c := &collector{}
	s := connect(t, f, c, st)
	if rf := s.Login().ResumeFailed; rf == nil || rf.HKnown {
		t.Fatalf("ResumeFailed = %v, want h unknown", rf)
	}
	f.expectSkippingR("presence")
	for _, id := range []string{"m1", "m2"} {
		if e := f.expectSkippingR("message"); e.attr("id") != id {
			t.Fatalf("resent %s, want %s", e, id)
		}
	}
	warned := false
	for _, ev := range c.all() {
		if w, ok := ev.(session.Warning); ok && strings.Contains(w.Text, "did not say") {
			warned = true
		}
	}
	if !warned {
		t.Error("no warning that the server did not give h")
	}
}

// A resumption that can no longer succeed (max passed) is not tried, unless
// stanzas are unconfirmed: then <failed h/> tells which the server has.
func TestMaxSkipsResume(t *testing.T) {
	t.Run("nothing unconfirmed", func(t *testing.T) {
		f := &fake{}
		st := &session.State{ID: "RID", Max: 10 * time.Second, Closed: time.Now().Add(-11 * time.Second)}
		s := connect(t, f, &collector{}, st)
		if len(f.resumes) != 0 {
			t.Fatalf("sent %v although max had passed", f.resumes)
		}
		if s.Login().ResumeSkipped == session.ResumeNotSkipped {
			t.Error("Login does not say why resumption was skipped")
		}
	})
	t.Run("unconfirmed stanzas", func(t *testing.T) {
		f := &fake{resume: func(string, uint32) string {
			return `<failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`
		}}
		st := &session.State{ID: "RID", Max: 10 * time.Second, Closed: time.Now().Add(-11 * time.Second),
			Unacked: []session.Stanza{msgStanza("m1"), msgStanza("m2")}}
		s := connect(t, f, &collector{}, st)
		if len(f.resumes) != 1 || s.Login().ResumeFailed == nil {
			t.Fatalf("resumes %v, login %+v: want one <resume/> to learn h", f.resumes, s.Login())
		}
		f.expectSkippingR("presence")
		if e := f.expectSkippingR("message"); e.attr("id") != "m2" {
			t.Fatalf("got %s, want only m2 resent", e)
		}
	})
}

// XEP-0198 §5: when the resumption location fails, the normal connection
// method is used: whether the location cannot be reached or answers and
// then fails the login (a wrong certificate, a dead server).
func TestLocationFallback(t *testing.T) {
	for name, atLocation := range map[string]func() (net.Conn, error){
		"unreachable": func() (net.Conn, error) { return nil, errors.New("unreachable") },
		"login fails": func() (net.Conn, error) {
			c, srv := net.Pipe()
			srv.Close() // answers, then dies
			return c, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fake{resume: func(string, uint32) string { return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>` }}
			f.t = t
			var dialed []string
			cfg := testConfig(f, nil)
			inner := cfg.Dial
			cfg.Dial = func(ctx context.Context, n, addr string) (net.Conn, error) {
				dialed = append(dialed, addr)
				if addr == "other.example.org:5222" {
					return atLocation()
				}
				return inner(ctx, n, addr)
			}
			st := &session.State{ID: "RID", Location: "other.example.org:5222", LastAlive: time.Now()}
			s, err := session.Connect(context.Background(), cfg, st)
			if err != nil {
				t.Fatalf("Connect = %v, want the normal address to be used", err)
			}
			defer s.Abort()
			if !s.Login().Resumed || s.Login().Addr != "example.org:5222" {
				t.Fatalf("login = %+v", s.Login())
			}
			if strings.Join(dialed, " ") != "other.example.org:5222 example.org:5222" {
				t.Fatalf("dialed %v", dialed)
			}
		})
	}
}

// Credentials refused at the resumption location are refused at every
// node: the normal address is not tried too (servers count failed logins).
func TestLocationCredentialsRefused(t *testing.T) {
	loc := &fake{t: t, authFail: "not-authorized"}
	locDial := testConfig(loc, nil).Dial
	cfg := testConfig(&fake{t: t}, nil)
	inner := cfg.Dial
	var dialed []string
	cfg.Dial = func(ctx context.Context, n, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		if addr == "other.example.org:5222" {
			return locDial(ctx, n, addr)
		}
		return inner(ctx, n, addr)
	}
	st := &session.State{ID: "RID", Location: "other.example.org:5222", LastAlive: time.Now()}
	_, err := session.Connect(context.Background(), cfg, st)
	var ae *session.AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("Connect = %v, want the location's not-authorized", err)
	}
	if strings.Join(dialed, " ") != "other.example.org:5222" {
		t.Fatalf("dialed %v, want the location only", dialed)
	}
}

// An h that acknowledges more than was sent ends the stream with
// undefined-condition, without a panic.
// A <resumed/> for another stream than the one asked for is a violation:
// its h would apply to stanzas it never counted.
func TestResumedWrongPrevID(t *testing.T) {
	f := &fake{resume: func(string, uint32) string {
		return `<resumed xmlns='urn:xmpp:sm:3' previd='someone-else' h='0'/>`
	}}
	f.t = t
	st := &session.State{ID: "RID-secret", JID: "alice@example.org/res1", LastAlive: time.Now(),
		Unacked: []session.Stanza{msgStanza("m1")}}
	cfg := testConfig(f, (&collector{}).on)
	_, err := session.Connect(context.Background(), cfg, st)
	if err == nil || !strings.Contains(err.Error(), "another stream") {
		t.Fatalf("Connect = %v, want an error about another stream", err)
	}
	if strings.Contains(err.Error(), "RID-secret") || strings.Contains(err.Error(), "someone-else") {
		t.Errorf("the error shows a resumption id: %v", err)
	}
	if len(st.Unacked) != 1 {
		t.Errorf("unacked = %d, want the message kept", len(st.Unacked))
	}
}

func TestOverAckIsAViolation(t *testing.T) {
	f := &fake{}
	c := &collector{}
	s := connect(t, f, c, nil)
	f.expect("presence")
	f.expect("r")
	f.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
	e := f.expect("error")
	if _, ok := e.child("undefined-condition"); !ok {
		t.Fatalf("stream error = %s", e)
	}
	// XEP-0198 §4: say what was received and what was sent.
	if hc, ok := e.child("handled-count-too-high"); !ok || hc.XMLName.Space != "urn:xmpp:sm:3" || hc.attr("h") != "2" || hc.attr("send-count") != "1" {
		t.Errorf("stream error without <handled-count-too-high h='2' send-count='1'/>: %s", e)
	}
	<-s.Done()
	var se *session.StreamError
	if !errors.As(s.Err(), &se) || !se.Local || !errors.Is(s.Err(), s.Err()) {
		t.Fatalf("Err = %v, want a local StreamError", s.Err())
	}
	if !strings.Contains(s.Err().Error(), "acknowledged more") {
		t.Errorf("error does not say why: %v", s.Err())
	}
}

func TestHostileServerXML(t *testing.T) {
	for name, tc := range map[string]struct{ xml, cond string }{
		"bad h":           {`<a xmlns='urn:xmpp:sm:3' h='-1'/>`, "undefined-condition"},
		"h too large":     {`<a xmlns='urn:xmpp:sm:3' h='4294967296'/>`, "undefined-condition"},
		"a without h":     {`<a xmlns='urn:xmpp:sm:3'/>`, "undefined-condition"},
		"not well-formed": {`<message><body>x</bod></message>`, "not-well-formed"},
		"unknown stanza":  {`<foo xmlns='jabber:client'/>`, "unsupported-stanza-type"},
		"tag too large":   {`<message id='` + strings.Repeat("x", session.DefaultMaxStanzaBytes+1) + `'/>`, "policy-violation"},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fake{}
			c := &collector{}
			s := connect(t, f, c, nil)
			f.expect("presence")
			f.expect("r")
			go f.send(tc.xml)
			<-s.Done()
			var se *session.StreamError
			if !errors.As(s.Err(), &se) || se.Condition != tc.cond {
				t.Fatalf("Err = %v, want stream error %s", s.Err(), tc.cond)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fake{}
			s := connect(t, f, &collector{}, nil)
			f.expect("presence")
			f.expect("r")
			go func() {
				f.expect("r")
				// A stale answer to the first <r/> does not count for the probe.
				f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
				time.Sleep(500 * time.Millisecond)
				f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
			}()
			start := time.Now()
			if err := s.Probe(context.Background(), 3*time.Second); err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if d := time.Since(start); d != 500*time.Millisecond {
				t.Errorf("probe took %v, want the 500ms until its own answer", d)
			}
			s.Abort()
		})
	})
	t.Run("silent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fake{}
			s := connect(t, f, &collector{}, nil)
			f.expect("presence")
			f.expect("r")
			go f.expect("r")
			start := time.Now()
			err := s.Probe(context.Background(), 3*time.Second)
			if !errors.Is(err, session.ErrProbeTimeout) {
				t.Fatalf("Probe = %v, want ErrProbeTimeout", err)
			}
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("timed out after %v, want 3s", d)
			}
			s.Abort()
		})
	})
	t.Run("broken", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fake{}
			s := connect(t, f, &collector{}, nil)
			f.expect("presence")
			f.expect("r")
			f.conn.Close()
			<-s.Done()
			start := time.Now()
			err := s.Probe(context.Background(), 3*time.Second)
			var ce *session.ConnError
			if !errors.As(err, &ce) && !errors.Is(err, session.ErrClosed) {
				t.Fatalf("Probe = %v, want a connection error", err)
			}
			if time.Since(start) != 0 {
				t.Errorf("a broken socket took %v to detect", time.Since(start))
			}
		})
	})
}

func TestWithoutSM(t *testing.T) {
	f := &fake{noSM: true}
	c := &collector{}
	s := connect(t, f, c, nil)
	if s.Login().SM {
		t.Fatal("SM on without the server offering it")
	}
	f.expect("presence")
	if err := s.WaitAcked(context.Background(), "x"); !errors.Is(err, session.ErrNoStreamManagement) {
		t.Errorf("WaitAcked = %v", err)
	}
	// Events arrive on the session's own goroutine: wait for it.
	warned := false
	for deadline := time.Now().Add(2 * time.Second); !warned && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, e := range c.all() {
			if _, ok := e.(session.Warning); ok {
				warned = true
			}
		}
	}
	if !warned {
		t.Error("no warning about the missing stream management")
	}
	// The probe falls back to a XEP-0199 ping.
	go func() {
		e := f.expect("iq")
		f.send(`<iq type='result' id='` + e.attr("id") + `' from='example.org'/>`)
	}()
	if err := s.Probe(context.Background(), 2*time.Second); err != nil {
		t.Fatalf("ping probe: %v", err)
	}
}

// Without stream management there is nothing to resume: Detach ends the
// stream, and returns once the server has closed it too, so that the server
// stores what is written to the account from then on rather than route it to
// a session whose socket is gone (it may not have read the EOF yet).
func TestDetachWithoutSMEndsTheStream(t *testing.T) {
	f := &fake{noSM: true, ended: make(chan struct{})}
	s := connect(t, f, &collector{}, nil)
	f.expect("presence")
	detached := make(chan error, 1)
	go func() { detached <- s.Detach() }()
	select {
	case <-f.ended:
	case err := <-detached:
		t.Fatalf("Detach returned (%v) without ending the stream", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Detach never ended the stream")
	}
	select {
	case err := <-detached:
		t.Fatalf("Detach returned (%v) before the server closed its stream", err)
	default:
	}
	f.send(`</stream:stream>`)
	if err := <-detached; err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := s.Err(); !errors.Is(err, session.ErrDetached) {
		t.Errorf("Err = %v, want ErrDetached", err)
	}
}

func TestAuthFailure(t *testing.T) {
	f := &fake{authFail: "not-authorized"}
	f.t = t
	_, err := session.Connect(context.Background(), testConfig(f, nil), nil)
	var ae *session.AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("err = %v (%T), want AuthError not-authorized", err, err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestWaitAckedAndDetach(t *testing.T) {
	f := &fake{}
	c := &collector{}
	s := connect(t, f, c, nil)
	f.expect("presence")
	f.expect("r")
	m, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "hello <&>"})
	if err != nil {
		t.Fatal(err)
	}
	e := f.expect("message")
	if b, _ := e.child("body"); b.Text != "hello <&>" {
		t.Errorf("body = %q", b.Text)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.WaitAcked(context.Background(), m.ID) }()
	f.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
	if err := <-errc; err != nil {
		t.Fatalf("WaitAcked: %v", err)
	}
	f.send(`<message from='bob@example.org/x' type='chat' id='in1'><body>yo</body></message>`)
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	f.expect("a")
	go func() {
		if err := s.Detach(); err != nil {
			t.Errorf("Detach: %v", err)
		}
	}()
	if h := f.expect("a").attr("h"); h != "1" {
		t.Errorf("last <a/> h = %s, want 1", h)
	}
	<-s.Done()
	if !errors.Is(s.Err(), session.ErrDetached) {
		t.Errorf("Err = %v", s.Err())
	}
	if st := s.State(); !st.Resumable(time.Now()) || st.InH != 1 {
		t.Errorf("state after detach = %v", st)
	}
}

// FuzzServerStream sends arbitrary bytes from the server once the session is
// up: the client must end the stream or carry on, never panic or hang.
func FuzzServerStream(f *testing.F) {
	for _, s := range []string{
		`<message from='b@example.org' type='chat'><body>x</body></message><r xmlns='urn:xmpp:sm:3'/>`,
		`<a xmlns='urn:xmpp:sm:3' h='1'/><a xmlns='urn:xmpp:sm:3' h='0'/>`,
		`<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
		`</stream:stream>`,
		`<message><body>&bogus;</body></message>`,
		`<message xmlns:x='y'><x:body/><delay xmlns='urn:xmpp:delay' stamp='nope'/></message>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fk := &fake{t: t}
		s, err := session.Connect(context.Background(), testConfig(fk, func(session.Event) {}), nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range fk.elems {
			}
		}()
		fk.send(in)
		s.Abort()
	})
}

// After a stream that could not be resumed, the archive is asked for what
// came after the last archived message handled; only our query's results
// from our own account are delivered, and what was delivered before is not
// delivered again.
func TestArchiveCatchUpResults(t *testing.T) {
	f := &fake{elems: make(chan elem, 1024), mam: true}
	st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1"}
	c := &collector{}
	f.t = t
	cfg := testConfig(f, c.on)
	done := connectAsync(t, cfg, st)
	f.expectSkippingR("presence")
	q := f.expectSkippingR("iq")
	query, _ := q.child("query")
	qid := query.attr("queryid")
	set, _ := query.child("set")
	if after, _ := set.child("after"); after.Text != "arch-1" {
		t.Fatalf("query %s does not ask for what came after arch-1", q)
	}
	result := func(from, queryid, id, body, origin string) string {
		return `<message from='` + from + `'><result xmlns='urn:xmpp:mam:2' queryid='` + queryid + `' id='` + id + `'>` +
			`<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-25T10:00:00Z'/>` +
			`<message xmlns='jabber:client' from='bob@example.org/x' to='alice@example.org' type='chat' id='` + origin + `'><body>` + body + `</body>` +
			`<origin-id xmlns='urn:xmpp:sid:0' id='` + origin + `'/></message></forwarded></result></message>`
	}
	f.send(result("mallory@example.org", qid, "m1", "forged", "f1"))
	f.send(result("alice@example.org", "not-ours", "m2", "stray", "f2"))
	f.send(result("", qid, "arch-2", "missed", "o1"))
	f.send(result("", qid, "arch-3", "missed", "o1")) // the same message twice
	f.send(`<iq type='result' id='` + q.attr("id") + `'><fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><last>arch-3</last></set></fin></iq>`)
	s := awaitSession(t, done)
	defer s.Abort()
	// The results were read before the reply that ended Connect's query;
	// the application gets them on the event goroutine.
	delivered(t, s)
	var got []string
	for _, e := range c.all() {
		if r, ok := e.(session.Received); ok {
			got = append(got, r.Message.Body)
			if !r.Message.Delayed() || r.Message.StanzaID != "arch-2" {
				t.Errorf("archived message %+v: want the delay and archive id", r.Message)
			}
		}
	}
	if fmt.Sprint(got) != "[missed]" {
		t.Fatalf("delivered %q, want only [missed] once", got)
	}
	if st := s.State(); st.LastArchiveID != "arch-3" {
		t.Errorf("LastArchiveID = %q, want arch-3", st.LastArchiveID)
	}
}

// Close acknowledges, before it ends the stream, every incoming stanza
// handled: a server re-routes what it sent and was not acknowledged when the
// stream ends (ejabberd to offline storage, with resend_on_timeout), so a
// message the application got would otherwise come again in the next
// session. A stanza read after that last count is neither delivered nor
// counted: the server re-routes it.
func TestCloseAcknowledgesWhatWasHandled(t *testing.T) {
	f := &fake{}
	c := &collector{}
	s := connect(t, f, c, nil)
	f.expect("presence")
	f.expect("r")
	f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
	f.send(`<message from='bob@example.org/x' type='chat' id='m1'><body>hi</body></message>`)
	received := func() []string {
		var got []string
		for _, e := range c.all() {
			if r, ok := e.(session.Received); ok {
				got = append(got, r.Message.Body)
			}
		}
		return got
	}
	for deadline := time.Now().Add(10 * time.Second); len(received()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the message was not delivered")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	if h := f.expect("a").attr("h"); h != "1" {
		t.Fatalf("final h = %s, want 1", h)
	}
	// Sent before the server read the end of the stream.
	f.send(`<message from='bob@example.org/x' type='chat' id='m2'><body>late</body></message><r xmlns='urn:xmpp:sm:3'/></stream:stream>`)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for e := range f.elems {
		t.Errorf("after the final count the client sent %s", e)
	}
	if got := received(); len(got) != 1 || got[0] != "hi" {
		t.Errorf("received %q, want [hi]: a stanza after the final count is the server's to re-route", got)
	}
}
