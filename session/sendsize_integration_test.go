package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// largestBody returns the longest body of x's that CheckSize accepts for a
// message from from to to, at the default bound.
func largestBody(t *testing.T, from, to string) string {
	t.Helper()
	lo, hi := 0, session.DefaultMaxSendBytes
	for lo < hi { // the largest n with CheckSize ok
		n := (lo + hi + 1) / 2
		m := session.Message{ID: session.NewID(), To: to, Body: strings.Repeat("x", n)}
		m.OriginID = m.ID // as SendMessage sends it
		if session.CheckSize(m, from, 0) == nil {
			lo = n
		} else {
			hi = n - 1
		}
	}
	return strings.Repeat("x", lo)
}

// The default bound on an outgoing message is the servers' own: the
// largest message it lets through reaches the peer on every server, sent
// and resent with its delay after a lost stream; one byte more is refused
// with ErrTooLarge, takes nothing, and leaves the session working. The
// servers close the connection on a stanza above their limit (Prosody with
// a reset, ejabberd with policy-violation): sent anyway, such a message
// broke the connection at every login.
func TestIntegrationSendSizeBound(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		bobBox := newInbox()
		bob := mustConnect(t, clientConfig(t, srv, "bob", bobBox.on), nil)
		var mu sync.Mutex
		var failed []session.Failed
		aliceCfg := clientConfig(t, srv, "alice", func(e session.Event) {
			if f, ok := e.(session.Failed); ok {
				mu.Lock()
				failed = append(failed, f)
				mu.Unlock()
			}
		})
		alice := mustConnect(t, aliceCfg, nil)
		from := "alice@" + srv.Domain()
		body := largestBody(t, from, bob.JID())

		before := alice.State().Pending()
		_, err := alice.SendMessage(context.Background(), session.Message{To: bob.JID(), Body: body + "x"})
		if !errors.Is(err, session.ErrTooLarge) {
			t.Fatalf("a message one byte above the bound: err %v, want ErrTooLarge", err)
		}
		if strings.Contains(err.Error(), "xxxx") || alice.State().Pending() != before {
			t.Fatalf("refused, but taken (pending %d, was %d) or shown in the error", alice.State().Pending(), before)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := alice.SendMessage(ctx, session.Message{To: bob.JID(), Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.WaitAcked(ctx, m.ID); err != nil {
			t.Fatalf("the largest message: %v (session: %v)", err, alice.Err())
		}

		// Resent with its delay by a fresh session: an orphan as large as
		// the bound allows, and one from an old state file above it.
		big := session.Message{ID: session.NewID(), To: bob.JID(), Body: body + "yy"}
		big.OriginID = big.ID
		ok := session.Message{ID: session.NewID(), To: bob.JID(), Body: body[:len(body)-1] + "z"}
		ok.OriginID = ok.ID
		st := &session.State{Orphans: []session.Stanza{
			{Kind: "message", ID: big.ID, To: big.To, Sent: time.Now().Add(-time.Minute), Raw: []byte("<message/>"), Message: &big},
			{Kind: "message", ID: ok.ID, To: ok.To, Sent: time.Now().Add(-time.Minute), Raw: []byte("<message/>"), Message: &ok},
		}}
		if err := alice.Close(ctx); err != nil {
			t.Fatal(err)
		}
		alice2 := mustConnect(t, aliceCfg, st)
		if err := alice2.WaitAcked(ctx, ok.ID); err != nil {
			t.Fatalf("the largest orphan: %v (session: %v)", err, alice2.Err())
		}
		got := bobBox.waitFor(t, 2, 10*time.Second)
		if len(got) != 2 || got[0].Body != body || got[1].Body != ok.Body {
			t.Fatalf("bob got %d messages (%v), want the two largest", len(got), len(bodiesOf(got)))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(failed) != 1 || failed[0].Stanza.ID != big.ID || !strings.Contains(failed[0].Reason, "not sent") {
			t.Fatalf("failed %+v, want the orphan above the bound reported once", failed)
		}
		if err := alice2.Err(); err != nil {
			t.Fatalf("the session ended: %v", err)
		}
	})
}
