package session_test

import (
	"context"
	"errors"
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
