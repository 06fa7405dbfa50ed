package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// Tests of the package's concurrency contract (see the package doc): one
// emitter, in order; writes ordered; the read loop never waiting for the
// application or the disk.

// eventIndex returns the position of the first event of type T that names
// id, or -1.
func eventIndex[T session.Event](events []session.Event, id string, refs func(T) []session.Ref) int {
	for i, e := range events {
		if v, ok := e.(T); ok {
			for _, r := range refs(v) {
				if r.ID == id {
					return i
				}
			}
		}
	}
	return -1
}

// pausedConfig is testConfig with the session pausing 20 ms at point, where
// a race once was (see session.PauseAt).
func pausedConfig(t *testing.T, f *fake, c *collector, point string) session.Config {
	f.t = t
	cfg := testConfig(f, c.on)
	session.PauseAt(&cfg, func(p string) {
		if p == point {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return cfg
}

// resentBeforeAcked waits until id is acknowledged, ends the session, and
// checks that its Resent was reported before its Acked.
func resentBeforeAcked(t *testing.T, s *session.Session, c *collector, id string) {
	t.Helper()
	if err := s.WaitAcked(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s.Abort()
	ev := c.all()
	resent := eventIndex(ev, id, func(e session.Resent) []session.Ref { return e.Stanzas })
	acked := eventIndex(ev, id, func(e session.Acked) []session.Ref { return e.Stanzas })
	if resent < 0 || acked < 0 || resent > acked {
		t.Fatalf("Resent at %d, Acked at %d, want Resent first: %#v", resent, acked, ev)
	}
}

// An <a/> that answers the resend at once must not be reported before the
// resend itself: events come from one place, in the order things happened.
func TestAckRacesResent(t *testing.T) {
	for i := range 30 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f := &fake{elems: make(chan elem, 1024), resume: func(string, uint32) string {
				return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>`
			}}
			st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(),
				Unacked: []session.Stanza{msgStanza("m1"), msgStanza("m2")}}
			c := &collector{}
			// Widen the window where the <a/> could once be reported
			// before the resend was.
			cfg := pausedConfig(t, f, c, "resent")
			go func() {
				f.expect("message")
				f.expect("message")
				f.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
			}()
			s, err := session.Connect(context.Background(), cfg, st)
			if err != nil {
				t.Fatal(err)
			}
			resentBeforeAcked(t, s, c, "m2")
		})
	}
}

// After a fresh session replaced an unresumable stream, the delayed resend
// is reported before the <a/> that confirms it, too.
func TestAckRacesDelayedResent(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f := &fake{}
			st := &session.State{Orphans: []session.Stanza{msgStanza("o1")}}
			c := &collector{}
			s := connect(t, f, c, st)
			f.expectSkippingR("presence")
			f.expectSkippingR("message")
			f.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
			resentBeforeAcked(t, s, c, "o1")
		})
	}
}

// Nothing is written between <resumed/> and the end of the resend, not even
// the answer to an iq the server had queued right behind <resumed/>: an <a/>
// covering that answer would otherwise drop a message the server never got
// (issue 11, item 10).
func TestResendNotOvertakenByIQReply(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f := &fake{resume: func(string, uint32) string {
				return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>` +
					`<iq type='get' id='ping1' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`
			}}
			st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(),
				Unacked: []session.Stanza{msgStanza("m1"), msgStanza("m2")}}
			c := &collector{}
			// Widen the window in which the read loop could once answer
			// the iq before the resend was written.
			cfg := pausedConfig(t, f, c, "reading")
			s, err := session.Connect(context.Background(), cfg, st)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Abort)
			var order []string
			for len(order) < 3 {
				e := f.next()
				if e.XMLName.Local == "r" {
					continue
				}
				order = append(order, e.XMLName.Local+":"+e.attr("id"))
			}
			if want := "message:m1,message:m2,iq:ping1"; strings.Join(order, ",") != want {
				t.Fatalf("wire order %v, want %s", order, want)
			}
		})
	}
}

// A Persist that takes its time (a slow disk) holds no lock the read loop
// needs: the server's <r/> is still answered.
func TestSlowPersistDoesNotBlockAnswers(t *testing.T) {
	f := &fake{}
	c := &collector{}
	release := make(chan struct{})
	var once sync.Once
	blocking := make(chan struct{})
	f.t = t
	cfg := testConfig(f, c.on)
	var armed bool
	var mu sync.Mutex
	cfg.Persist = func(*session.State) {
		mu.Lock()
		a := armed
		mu.Unlock()
		if a {
			once.Do(func() { close(blocking) })
			<-release
		}
	}
	s, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	defer close(release)
	f.expect("presence")
	f.expect("r")
	mu.Lock()
	armed = true
	mu.Unlock()
	sent := make(chan error, 1)
	go func() {
		_, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "x"})
		sent <- err
	}()
	<-blocking // SendMessage is saving the State
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if a := f.expect("a"); a.attr("h") != "0" {
		t.Errorf("h = %s, want 0", a.attr("h"))
	}
	select {
	case err := <-sent:
		t.Fatalf("SendMessage returned (%v) before its State was saved", err)
	default:
	}
}

// SendMessage respects its context: a cancelled one takes nothing.
func TestSendMessageRespectsContext(t *testing.T) {
	f := &fake{}
	c := &collector{}
	s := connect(t, f, c, nil)
	f.expect("presence")
	f.expect("r")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SendMessage(ctx, session.Message{To: "bob@example.org", Body: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendMessage with a cancelled context = %v, want context.Canceled", err)
	}
	if n := len(s.State().Unacked); n != 1 { // the presence
		t.Errorf("%d stanzas queued, want only the presence", n)
	}
}

// OnEvent may send, probe and wait for acknowledgements: the read loop does
// not wait for it, so none of these deadlock.
func TestOnEventMayCallBack(t *testing.T) {
	f := &fake{}
	f.t = t
	var s *session.Session
	ready := make(chan struct{})
	results := make(chan error, 3)
	cfg := testConfig(f, func(e session.Event) {
		r, ok := e.(session.Received)
		if !ok {
			return
		}
		<-ready
		m, err := s.SendMessage(context.Background(), session.Message{To: r.Message.From, Body: "re: " + r.Message.Body})
		results <- err
		results <- s.Probe(context.Background(), 5*time.Second)
		results <- s.WaitAcked(context.Background(), m.ID)
	})
	var err error
	s, err = session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	close(ready)
	f.expect("presence")
	f.expect("r")
	f.send(`<message from='bob@example.org/x' type='chat' id='in1'><body>hi</body></message>`)
	f.expect("message")
	// The reply carries no <r/> (the presence's is still outstanding); the
	// probe sends one. The server answers both.
	f.expect("r")
	f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/><a xmlns='urn:xmpp:sm:3' h='2'/>`)
	for range 3 {
		select {
		case err := <-results:
			if err != nil {
				t.Fatalf("a call from OnEvent failed: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call from OnEvent is stuck")
		}
	}
}

// The answer to <r/> counts exactly the stanzas handled before it: a slow
// application delays it, never makes it claim a stanza it has not had.
func TestAnswerCountsOnlyHandled(t *testing.T) {
	f := &fake{}
	f.t = t
	gate := make(chan struct{})
	cfg := testConfig(f, func(e session.Event) {
		if _, ok := e.(session.Received); ok {
			<-gate
		}
	})
	s, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	f.expect("presence")
	f.expect("r")
	f.send(`<message from='bob@example.org/x' type='chat' id='in1'><body>1</body></message><r xmlns='urn:xmpp:sm:3'/>`)
	select {
	case e := <-f.elems:
		t.Fatalf("answered %s before the message was handled", e)
	case <-time.After(100 * time.Millisecond):
	}
	// The read loop still reads (and answers the server's pings).
	f.send(`<iq type='get' id='p1' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if e := f.expectSkippingR("iq"); e.attr("id") != "p1" || e.attr("type") != "result" {
		t.Fatalf("ping answer = %s", e)
	}
	close(gate)
	if a := f.expectSkippingR("a"); a.attr("h") != "1" {
		t.Fatalf("h = %s, want 1 (the message, not yet the ping)", a.attr("h"))
	}
}

// Clients reuse plain ids: three different messages with the same id are
// three messages. The same message twice (same origin-id) is one.
func TestDeduplicationKeepsDistinctMessages(t *testing.T) {
	f := &fake{}
	c := &collector{}
	connect(t, f, c, nil)
	f.expect("presence")
	f.expect("r")
	for _, body := range []string{"one", "two", "three"} {
		f.send(`<message from='bob@example.org/x' type='chat' id='1'><body>` + body + `</body></message>`)
	}
	for range 2 {
		f.send(`<message from='bob@example.org/x' type='chat' id='x'><body>same</body><origin-id xmlns='urn:xmpp:sid:0' id='o-1'/></message>`)
	}
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expectSkippingR("a").attr("h"); h != "5" {
		t.Fatalf("h = %s, want 5: every stanza counted", h)
	}
	var received, dup []string
	for _, e := range c.all() {
		switch e := e.(type) {
		case session.Received:
			received = append(received, e.Message.Body)
		case session.Duplicate:
			dup = append(dup, e.Message.Body)
		}
	}
	if strings.Join(received, ",") != "one,two,three,same" || strings.Join(dup, ",") != "same" {
		t.Fatalf("received %v, duplicates %v", received, dup)
	}
}

// A resumed stream that acknowledges nothing, not even a probe, is given up
// for a fresh session: resuming it again would meet the same broken server
// parser (Prosody's, after a tear cut a stanza in half). What it held is
// resent by the fresh session with a delay; nothing is lost.
func TestSilentResumedStreamIsGivenUp(t *testing.T) {
	f := &fake{resume: func(string, uint32) string {
		return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>`
	}}
	st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(),
		Unacked: []session.Stanza{msgStanza("m1")}}
	c := &collector{}
	s := connect(t, f, c, st)
	f.expect("message") // the resend, swallowed by the server
	if err := s.Probe(context.Background(), 100*time.Millisecond); !errors.Is(err, session.ErrProbeTimeout) {
		t.Fatalf("Probe = %v, want ErrProbeTimeout", err)
	}
	<-s.Done()
	if !errors.Is(s.Err(), session.ErrResumedStreamSilent) {
		t.Fatalf("Err = %v, want ErrResumedStreamSilent", s.Err())
	}
	if st2 := s.State(); st2.Resumable(time.Now()) || st2.Pending() != 1 {
		t.Fatalf("state after giving up = %v, want not resumable, the message kept", st2)
	}

	f2 := &fake{}
	s2 := connect(t, f2, &collector{}, st)
	if s2.Login().Resumed || len(f2.resumes) != 0 {
		t.Fatalf("resumed again: %+v, %v", s2.Login(), f2.resumes)
	}
	f2.expectSkippingR("presence")
	m := f2.expectSkippingR("message")
	if _, delayed := m.child("delay"); m.attr("id") != "m1" || !delayed {
		t.Fatalf("resent %s, want m1 with a delay", m)
	}
}

// A resumed stream that has acknowledged something is not given up for a
// probe that times out later: that is an ordinary dead connection, and the
// stream stays resumable.
func TestAnsweredResumedStreamStaysResumable(t *testing.T) {
	f := &fake{resume: func(string, uint32) string {
		return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>`
	}}
	st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(),
		Unacked: []session.Stanza{msgStanza("m1")}}
	s := connect(t, f, &collector{}, st)
	f.expect("message")
	f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
	if err := s.WaitAcked(context.Background(), "m1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background(), 100*time.Millisecond); !errors.Is(err, session.ErrProbeTimeout) {
		t.Fatalf("Probe = %v, want ErrProbeTimeout", err)
	}
	if s.Err() != nil || !s.State().Resumable(time.Now()) {
		t.Fatalf("after a probe timeout: err %v, resumable %t; want the stream kept", s.Err(), s.State().Resumable(time.Now()))
	}
}

// A location without a port gets the client port (the fallbacks of an
// unusable location are in TestLocationFallback).
func TestLocationWithoutPort(t *testing.T) {
	for loc, want := range map[string]string{
		"other.example.org":      "other.example.org:5222",
		"other.example.org:5333": "other.example.org:5333",
		"[2001:db8::1]":          "[2001:db8::1]:5222",
		"[2001:db8::1]:5333":     "[2001:db8::1]:5333",
	} {
		f := &fake{enabled: `<enabled xmlns='urn:xmpp:sm:3' id='RID' resume='true' max='600' location='` + loc + `'/>`}
		s := connect(t, f, &collector{}, nil)
		if got := s.State().Location; got != want {
			t.Errorf("location %q stored as %q, want %q", loc, got, want)
		}
		s.Abort()
	}
}
