package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// Sent is reported only once Persist has saved the State holding the
// message: a program that takes Sent as "accepted" (xmppbg chat's "sent"
// event) and is killed right after must find the message in the state file.
// The soak found the opposite: Sent printed, the process killed, the
// message in neither the file nor the server.
func TestSentAfterPersist(t *testing.T) {
	f := &fake{t: t}
	var (
		mu       sync.Mutex
		saving   bool // Persist is saving a State that holds the message
		early    bool // Sent came meanwhile
		sentSeen = make(chan struct{}, 1)
	)
	c := &collector{}
	cfg := testConfig(f, func(e session.Event) {
		if _, ok := e.(session.Sent); ok {
			mu.Lock()
			early = early || saving
			mu.Unlock()
			select {
			case sentSeen <- struct{}{}:
			default:
			}
		}
		c.on(e)
	})
	cfg.Persist = func(st *session.State) {
		holds := false
		for _, u := range st.Unacked {
			if u.Message != nil && u.Message.Body == "saved first" {
				holds = true
			}
		}
		if !holds {
			return
		}
		mu.Lock()
		first := !saving && !early
		saving = true
		mu.Unlock()
		if first {
			// A slow disk: the Sent must wait for it.
			select {
			case <-sentSeen:
			case <-time.After(200 * time.Millisecond):
			}
		}
		mu.Lock()
		saving = false
		mu.Unlock()
	}
	s, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	f.expect("presence")
	f.expect("r")
	if _, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "saved first"}); err != nil {
		t.Fatal(err)
	}
	f.expect("message")
	s.Abort()
	<-s.Done()
	if eventIndex(c.all(), "", func(session.Sent) []session.Ref { return []session.Ref{{}} }) < 0 {
		t.Fatal("no Sent reported")
	}
	mu.Lock()
	defer mu.Unlock()
	if early {
		t.Fatal("Sent was reported while the State holding the message was still being saved")
	}
}

// A session that ends after SendMessage took the stanza lock but before it
// queued the message must not take it silently: either SendMessage fails
// (the caller keeps the message) or Sent is reported. It used to return nil
// with the message in the State and no Sent at all: the notifier was closed
// already, so reconnect.Client, which reports a message as sent by the
// session's Sent, never reported it.
func TestSentNotLostWhenSessionEndsBeforeQueueing(t *testing.T) {
	f := &fake{t: t}
	c := &collector{}
	cfg := testConfig(f, c.on)
	var s *session.Session
	var once sync.Once
	session.PauseAt(&cfg, func(point string) {
		if point != "queue-locked" || s == nil {
			return
		}
		once.Do(func() {
			s.Abort()
			<-s.Done()
		})
	})
	var err error
	s, err = session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	f.expect("presence")
	f.expect("r")
	_, err = s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: "late"})
	<-s.Done()
	sent := eventIndex(c.all(), "", func(session.Sent) []session.Ref { return []session.Ref{{}} }) >= 0
	if err == nil && !sent {
		t.Fatal("SendMessage took the message (nil error) but no Sent was reported")
	}
	if err != nil && !errors.Is(err, session.ErrClosed) {
		t.Fatalf("SendMessage: %v, want ErrClosed", err)
	}
}

// A Config.Persist that panics must not stall the session. The save before
// a Sent used to hold the Sent (and every event after it) for good when it
// panicked into a caller that recovered (an HTTP handler does); on the read
// loop or the event goroutine it crashed the process. Now the session ends
// with a *PersistError holding the panic value, everywhere: no Sent is
// reported for a message whose save failed, and SendMessage does not take
// it.
func TestPersistPanicEndsSession(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, when := range []string{"login", "send", "ack", "incoming"} {
		t.Run(when, func(t *testing.T) {
			f := &fake{t: t}
			c := &collector{}
			cfg := testConfig(f, c.on)
			cfg.Persist = func(st *session.State) {
				var fire bool
				switch when {
				case "login":
					fire = true
				case "send":
					for _, u := range st.Unacked {
						fire = fire || u.Message != nil && u.Message.Body == "boom"
					}
				case "ack":
					fire = st.OutH > 0
				case "incoming":
					fire = st.InH > 0
				}
				if fire {
					panic(boom)
				}
			}
			ctx := context.Background()
			var s *session.Session
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						err = fmt.Errorf("Connect panicked: %v", v)
					}
				}()
				s, err = session.Connect(ctx, cfg, nil)
				return err
			}()
			if when == "login" {
				var pe *session.PersistError
				if !errors.As(err, &pe) || !errors.Is(err, boom) {
					t.Fatalf("Connect: %v, want a *PersistError wrapping the panic value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { go s.Abort() }) // bounded below: it waits for Done
			f.expect("presence")
			f.expect("r")
			var sendErr error
			switch when {
			case "send":
				func() {
					defer func() {
						if v := recover(); v != nil {
							sendErr = fmt.Errorf("SendMessage panicked: %v", v)
						}
					}()
					_, sendErr = s.SendMessage(ctx, session.Message{To: "bob@example.org", Body: "boom"})
				}()
				var pe *session.PersistError
				if !errors.As(sendErr, &pe) || !errors.Is(sendErr, boom) || !errors.Is(sendErr, session.ErrClosed) {
					t.Errorf("SendMessage: %v, want ErrClosed with a *PersistError wrapping the panic value", sendErr)
				}
			case "ack":
				f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`) // the presence
			case "incoming":
				f.send(`<message from='bob@example.org/x' to='alice@example.org/res1' type='chat' id='m1'><body>hi</body></message>`)
			}
			select {
			case <-s.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the session stalled after Persist panicked")
			}
			var pe *session.PersistError
			if err := s.Err(); !errors.As(err, &pe) || !errors.Is(err, boom) {
				t.Errorf("Err() = %v, want a *PersistError wrapping the panic value", err)
			}
			if when != "send" {
				return
			}
			for _, e := range c.all() {
				if sent, ok := e.(session.Sent); ok && sent.Message.Body == "boom" {
					t.Error("Sent reported for a message whose save panicked")
				}
			}
			for _, u := range s.State().Unacked {
				if u.Message != nil && u.Message.Body == "boom" {
					t.Error("the message SendMessage refused is in the State: it would be sent by the next session too")
				}
			}
			for e := range f.elems {
				if b, _ := e.child("body"); b.Text == "boom" {
					t.Error("the message whose save panicked was written")
				}
			}
		})
	}
}
