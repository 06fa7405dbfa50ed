package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// A first archive catch-up (no archive id handled yet: it asks for what came
// after a time) cut short before its first result, on a real server, is
// taken up from the same time by the next login. The first login's clock
// runs 5 minutes ahead, as if the messages had been archived well before
// it: the start the next login would compute from the LastAlive that login
// moved is then later than the messages, which were never fetched.
func TestIntegrationArchiveFirstCatchUpInterrupted(t *testing.T) {
	o := integration.Options{MAM: true, DisableOffline: true}
	integration.Each(t, o, func(t *testing.T, srv integration.Server) {
		ctx := context.Background()
		bob := mustConnect(t, clientConfig(t, srv, "bob", nil), nil)
		st := &session.State{ID: "gone", SM: true, LastAlive: time.Now().Add(-10 * time.Minute)}
		// With offline storage off, only the archive keeps them.
		away := bodies("while away", 3)
		sendAcked(t, bob, "alice@"+srv.Domain(), away)

		// The first login: its connection breaks as the archive query,
		// saved with the State, is about to go out.
		tr := &tracker{}
		box1 := newInbox()
		cfg1 := clientConfig(t, srv, "alice", box1.on)
		cfg1.Dial = tr.dial
		session.SetClock(&cfg1, func() time.Time { return time.Now().Add(5 * time.Minute) })
		cfg1.Persist = func(st *session.State) {
			for _, u := range st.Unacked {
				if u.Kind == "iq" && st.ArchiveBehind {
					tr.rst()
					return
				}
			}
		}
		c1ctx, cancel1 := context.WithTimeout(ctx, 20*time.Second)
		defer cancel1()
		if s, err := session.Connect(c1ctx, cfg1, st); err == nil {
			s.Abort()
			t.Fatal("the first login succeeded, though its connection broke during the catch-up")
		}
		if n := len(box1.all()); n != 0 {
			t.Fatalf("the first login delivered %d messages before its catch-up was cut", n)
		}
		if !st.ArchiveBehind {
			t.Fatal("the State does not say the archive is behind")
		}

		box2 := newInbox()
		// A resumption does not catch up (the stream lost nothing): the
		// stream is gone by the next login, as once the server's
		// resumption time has passed.
		st.ID = ""
		alice := mustConnect(t, clientConfig(t, srv, "alice", box2.on), st)
		if alice.Login().Resumed {
			t.Fatal("resumed")
		}
		box2.waitFor(t, len(away), 10*time.Second)
		time.Sleep(300 * time.Millisecond) // a duplicate would come now
		exactlyOnce(t, box2.all(), away)
		if st := alice.State(); st.ArchiveBehind || !st.ArchiveStart.IsZero() || st.LastArchiveID == "" {
			t.Errorf("after the catch-up: ArchiveBehind %v, ArchiveStart %v, LastArchiveID %q; want false, zero, an id",
				st.ArchiveBehind, st.ArchiveStart, st.LastArchiveID)
		}
	})
}
