package session_test

import (
	"context"
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
