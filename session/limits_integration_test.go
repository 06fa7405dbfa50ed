package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

// A server that states its own stanza limit (XEP-0478: Prosody 13's
// c2s_stanza_size_limit, here 32 KiB) lowers the bound on outgoing
// messages, by the classic login and by SASL2, and still after a stream
// resumed inline (which gets no stream features): a message above it is
// refused (ErrTooLarge, saying the server's figure) instead of making the
// server close the connection at every login. Prosody 0.12 has the same
// limit and says nothing: the default bound is all there is.
func TestIntegrationServerStanzaLimit(t *testing.T) {
	const limit = 32 << 10
	for _, v := range []string{prosody.Version13, prosody.Version012} {
		t.Run(v, func(t *testing.T) {
			srv := integration.StartProsody(t, prosody.Options{
				Version: v, StanzaSizeLimit: limit,
				Accounts: map[string]string{"alice": integration.Password, "bob": integration.Password},
			})
			tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
			if err != nil {
				t.Fatal(err)
			}
			cfg := func(user string) session.Config {
				return session.Config{JID: user + "@" + srv.Domain(), Password: integration.Password, Addr: srv.Addr(), TLS: tlsCfg}
			}
			bob := mustConnect(t, cfg("bob"), nil)
			for _, noSASL2 := range []bool{true, false} {
				ac := cfg("alice")
				ac.NoSASL2 = noSASL2
				st := &session.State{}
				alice := mustConnect(t, ac, st)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				send := func(s *session.Session, n int) error {
					m, err := s.SendMessage(ctx, session.Message{To: bob.JID(), Body: strings.Repeat("x", n)})
					if err == nil {
						err = s.WaitAcked(ctx, m.ID)
					}
					return err
				}
				if v == prosody.Version012 {
					if got := alice.State().SendLimit; got != 0 {
						t.Fatalf("Prosody 0.12 does not advertise its limit, yet SendLimit = %d", got)
					}
					continue
				}
				if got := alice.State().SendLimit; got != limit {
					t.Fatalf("NoSASL2 %t: SendLimit = %d, want the server's %d", noSASL2, got, limit)
				}
				var tl *session.TooLargeError
				if err := send(alice, limit); !errors.As(err, &tl) || tl.Max != limit {
					t.Fatalf("NoSASL2 %t: a message above the server's limit: %v, want a TooLargeError at %d", noSASL2, err, limit)
				}
				if err := send(alice, limit-1024); err != nil {
					t.Fatalf("NoSASL2 %t: a message under the limit: %v", noSASL2, err)
				}
				// Resumed: no features this time, the State remembers.
				if err := alice.Detach(); err != nil {
					t.Fatal(err)
				}
				alice = mustConnect(t, ac, st)
				if !alice.Login().Resumed {
					t.Fatalf("NoSASL2 %t: not resumed", noSASL2)
				}
				if err := send(alice, limit); !errors.As(err, &tl) || tl.Max != limit {
					t.Fatalf("NoSASL2 %t, resumed: a message above the server's limit: %v, want a TooLargeError at %d", noSASL2, err, limit)
				}
				if err := send(alice, 100); err != nil || alice.Err() != nil {
					t.Fatalf("NoSASL2 %t, resumed: the session after the refusal: %v, %v", noSASL2, err, alice.Err())
				}
				alice.Abort()
			}
		})
	}
}
