package session_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// skips records Skipped events beside an inbox.
type skips struct {
	mu  sync.Mutex
	got []session.Skipped
}

func (s *skips) on(box *inbox) func(session.Event) {
	return func(e session.Event) {
		if sk, ok := e.(session.Skipped); ok {
			s.mu.Lock()
			s.got = append(s.got, sk)
			s.mu.Unlock()
		}
		box.on(e)
	}
}

func (s *skips) all() []session.Skipped {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]session.Skipped(nil), s.got...)
}

// What any user can send another through a real server must not lock the
// receiver out: a message nested 10,001 deep is skipped (it used to end the
// connection and come back on every resumption), and a 250 KB body of
// apostrophes, which Prosody sends as 1.5 MB of &apos;, is delivered (it
// used to exceed the 1 MiB cap). Neither comes back on the next login.
func TestIntegrationHostileStanzas(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		testHostileStanzas(t, srv)
	})
}

func testHostileStanzas(t *testing.T, srv integration.Server) {
	box, sk := newInbox(), &skips{}
	aliceCfg := clientConfig(t, srv, "alice", sk.on(box))
	st := &session.State{}
	alice := mustConnect(t, aliceCfg, st)
	bob := mustConnect(t, clientConfig(t, srv, "bob", nil), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	to := alice.JID()
	relaysDeep := srv.Caps().RelaysDeepXML
	if relaysDeep {
		deep := `<message to='` + to + `' type='chat' id='deep'><body>deep</body>` +
			strings.Repeat("<x>", 10_000) + strings.Repeat("</x>", 10_000) + `</message>`
		if err := bob.SendRaw(ctx, "message", "deep", to, deep); err != nil {
			t.Fatal(err)
		}
	}
	// Raw apostrophes: 250 KB as bob sends them, within Prosody's 256 KiB.
	big := strings.Repeat("'", 250_000)
	if err := bob.SendRaw(ctx, "message", "big", to, `<message to='`+to+`' type='chat' id='big'><body>`+big+`</body></message>`); err != nil {
		t.Fatal(err)
	}
	m, err := bob.SendMessage(ctx, session.Message{To: to, Body: "after"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitAcked(ctx, m.ID); err != nil {
		t.Fatalf("bob's messages not acknowledged: %v", err)
	}

	if !box.wait(2, 20*time.Second) {
		t.Fatalf("alice got %d messages, skipped %+v; alice: %v; bob: %v", len(box.all()), sk.all(), alice.Err(), bob.Err())
	}
	got := box.all()
	if got[0].ID != "big" || got[0].Body != big {
		t.Errorf("first message %q (%d bytes), want the 250 KB body", got[0].ID, len(got[0].Body))
	}
	if got[1].Body != "after" {
		t.Errorf("second message %q, want after", got[1].Body)
	}
	skipped := sk.all()
	if !relaysDeep {
		if len(skipped) != 0 {
			t.Fatalf("skipped = %+v, want nothing", skipped)
		}
	} else if len(skipped) != 1 || skipped[0].ID != "deep" || skipped[0].Kind != "message" || skipped[0].Reason != session.SkipTooDeep || !strings.HasPrefix(skipped[0].From, "bob@") {
		t.Fatalf("skipped = %+v, want the deep message", skipped)
	}
	if err := alice.Err(); err != nil {
		t.Fatalf("alice's session ended: %v", err)
	}
	if alice.Login().Resumed {
		t.Fatal("alice's first login resumed")
	}

	// The connection drops; the next login resumes and gets nothing again.
	alice.Abort()
	box2, sk2 := newInbox(), &skips{}
	again := mustConnect(t, clientConfig(t, srv, "alice", sk2.on(box2)), st)
	if !again.Login().Resumed {
		t.Fatalf("second login did not resume: %+v", again.Login())
	}
	time.Sleep(2 * time.Second)
	if m, s := box2.all(), sk2.all(); len(m) != 0 || len(s) != 0 {
		t.Fatalf("second login got %d messages and %d skipped stanzas again", len(m), len(s))
	}
	if err := again.Err(); err != nil {
		t.Fatalf("second session ended: %v", err)
	}
}
