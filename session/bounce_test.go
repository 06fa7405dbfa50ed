package session_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// TestBouncedAndPing: an error reply to a message is a Bounced event tied to
// the message's id, counted like any stanza, never a Received; Ping returns
// only once the events of what came before its answer were delivered, even
// when the application takes its time with them.
func TestBouncedAndPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		var got []session.Event
		done := make(chan struct{})
		on := func(e session.Event) {
			if _, ok := e.(session.Bounced); ok {
				time.Sleep(time.Second) // a slow application
			}
			got = append(got, e)
		}
		f.t = t
		cfg := testConfig(f, on)
		cfg.NoPresence = true
		s, err := session.Connect(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Abort()

		m, err := s.SendMessage(context.Background(), session.Message{To: "nobody@example.org", Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		f.expect("message") // no presence before it: NoPresence
		go func() {
			defer close(done)
			ping := f.expectSkippingR("iq")
			if p, ok := ping.child("ping"); !ok || p.XMLName.Space != "urn:xmpp:ping" || ping.attr("to") != "example.org" {
				t.Errorf("ping = %s", ping)
			}
			f.send(`<message type='error' id='` + m.ID + `' from='nobody@example.org'><error type='cancel'>` +
				`<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such user</text></error></message>`)
			f.send(`<iq type='result' id='` + ping.attr("id") + `' from='example.org'/>`)
		}()
		start := time.Now()
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Ping returned after %v, want the 1s the application took with the bounce", d)
		}
		<-done
		var bounced []session.Bounced
		for _, e := range got {
			switch e := e.(type) {
			case session.Bounced:
				bounced = append(bounced, e)
			case session.Received:
				t.Errorf("an error reply was delivered as a message: %+v", e)
			}
		}
		want := session.Bounced{ID: m.ID, From: "nobody@example.org", Condition: "service-unavailable", Text: "no such user"}
		if len(bounced) != 1 || bounced[0] != want {
			t.Errorf("bounced = %+v, want %+v", bounced, want)
		}
		// Counted for XEP-0198 once delivered, before Ping returned
		// (the iq result after it may or may not be counted yet).
		if st := s.State(); st.InH < 1 {
			t.Errorf("inbound h = %d, want the bounce counted", st.InH)
		}
	})
}
