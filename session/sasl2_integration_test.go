package session_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The modern login on real servers. On a server with SASL2 (Prosody 13,
// ejabberd 24.12): the first login gets a FAST token; the next connection,
// from the state file, resumes with it in one flight (3 round trips, TCP
// included); a stream the server no longer knows gives a fresh session in
// the same round trips; a token it no longer knows falls back to the
// password (in one flight, 4 round trips). On a server without SASL2
// (Prosody 0.12, ejabberd 23.01) the classic login works as before. No
// token or password shows in the debug log, in errors, or in the State's
// printed forms.
func TestIntegrationSASL2(t *testing.T) {
	integration.Each(t, integration.Options{DirectTLSPort: true}, func(t *testing.T, srv integration.Server) {
		logs := &syncBuffer{}
		var last *turnCounter
		var rt int
		cfg := clientConfig(t, srv, "alice", nil)
		cfg.DirectTLS, cfg.Addr, cfg.NoPresence = true, srv.DirectTLSAddr(), true
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Dial = dialWrapped(func(c net.Conn) net.Conn { last = &turnCounter{Conn: c}; return last })
		session.OnNegotiated(&cfg, func() { rt = 1 + last.count() })
		path := filepath.Join(t.TempDir(), "state.json")
		account := "alice@" + srv.Domain()
		var tokens []string
		var printed []string
		connect := func(what string) *session.Session {
			t.Helper()
			st, err := session.LoadState(path, account)
			if err != nil {
				t.Fatalf("%s: loading state: %v", what, err)
			}
			s := mustConnect(t, cfg, st)
			got := s.State()
			if got.FAST != nil {
				tokens = append(tokens, got.FAST.Token)
			}
			printed = append(printed, got.String(), fmt.Sprint(got.FAST))
			if err := got.Save(path, account); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d round trips, %+v", what, rt, s.Login())
			return s
		}
		detach := func(s *session.Session) {
			t.Helper()
			if err := s.Detach(); err != nil {
				t.Fatal(err)
			}
			if err := s.State().Save(path, account); err != nil {
				t.Fatal(err)
			}
		}

		s := connect("first login")
		l := s.Login()
		if !s.State().NoPLAIN {
			// Every server of the harness offers SCRAM: the login that
			// used it pins it.
			t.Errorf("SCRAM not pinned after the first login: %+v", l)
		}
		if !srv.Caps().SASL2 {
			if l.SASL2 || s.State().FAST != nil || len(s.State().SASL2) > 0 {
				t.Fatalf("SASL2 on a server without it: %+v", l)
			}
			detach(s)
			if s = connect("classic resumption"); !s.Login().Resumed {
				t.Fatalf("not resumed the classic way: %+v", s.Login())
			}
			detach(s)
			// A State that says the server offers SASL2 (it did once, or
			// the file was copied): one flight finds out it does not, and
			// the classic login follows.
			st, _ := session.LoadState(path, account)
			st.SASL2 = []string{"SCRAM-SHA-1"}
			st.FAST = &session.FASTToken{Mechanism: "HT-SHA-256-EXPR", Token: "stale-token"}
			st.Save(path, account)
			s = connect("SASL2 remembered, not offered")
			if l := s.Login(); !l.Resumed || l.SASL2 || len(s.State().SASL2) != 0 {
				t.Fatalf("with SASL2 remembered but not offered: %+v", l)
			}
			return
		}
		if !l.SASL2 || !l.SM || s.State().FAST == nil {
			t.Fatalf("first login without SASL2, SM or a token: %+v, %v", l, s.State().FAST)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("state file: %v %v", fi, err)
		}
		detach(s)

		s = connect("FAST resumption")
		if l := s.Login(); !l.Resumed || !strings.HasPrefix(l.Mechanism, "HT-SHA-256-") {
			t.Fatalf("not resumed with the token: %+v", l)
		}
		if rt != 3 {
			t.Errorf("FAST resumption: %d round trips, want 3", rt)
		}
		// The session works: a message to ourselves comes back.
		if err := s.SendRaw(context.Background(), "message", "m1", account, `<message to="`+account+`" id="m1" type="chat"><body>ping</body></message>`); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitAcked(context.Background(), "m1"); err != nil {
			t.Fatal(err)
		}
		detach(s)

		// A stream the server does not know: <failed/>, then a fresh
		// session in the same round trip.
		st, _ := session.LoadState(path, account)
		st.ID = "gone-" + st.ID
		st.Save(path, account)
		s = connect("failed inline resumption")
		if l := s.Login(); l.Resumed || l.ResumeFailed == nil || !l.SM {
			t.Fatalf("after a failed inline resumption: %+v", l)
		}
		if rt != 3 {
			t.Errorf("fresh session after a failed inline resumption: %d round trips, want 3", rt)
		}
		detach(s)

		// A token the server does not know: the password, then a new
		// token.
		st, _ = session.LoadState(path, account)
		st.FAST.Token = "unknown-" + st.FAST.Token
		st.Save(path, account)
		s = connect("token refused")
		if l := s.Login(); !l.Resumed || !strings.HasPrefix(l.Mechanism, "SCRAM-") {
			t.Fatalf("no password login after a refused token: %+v", l)
		}
		if rt != 4 {
			t.Errorf("password login in one flight: %d round trips, want 4", rt)
		}
		if s.State().FAST == nil {
			// Prosody 13 issues no token on a login that resumes a
			// stream, even when asked: the next fresh session gets one.
			t.Logf("no new token on a password login that resumed")
		}
		detach(s)

		// A token and a stream the server does not know: the password,
		// a fresh session, and a new token.
		st, _ = session.LoadState(path, account)
		if st.FAST == nil {
			st.FAST = &session.FASTToken{Mechanism: "HT-SHA-256-EXPR", Token: "made-up-token"}
		}
		st.FAST.Token = "unknown-" + st.FAST.Token
		st.ID = "gone-" + st.ID
		st.Save(path, account)
		s = connect("token and stream gone")
		if l := s.Login(); l.Resumed || !strings.HasPrefix(l.Mechanism, "SCRAM-") || s.State().FAST == nil {
			t.Fatalf("no fresh password login with a new token: %+v, %v", l, s.State().FAST)
		}
		detach(s)

		// STARTTLS: TLS first, then the same one flight.
		starttls := cfg
		starttls.DirectTLS, starttls.Addr = false, srv.Addr()
		st, _ = session.LoadState(path, account)
		s = mustConnect(t, starttls, st)
		if l := s.Login(); !l.Resumed || !strings.HasPrefix(l.Mechanism, "HT-SHA-256-") {
			t.Fatalf("STARTTLS: not resumed with the token: %+v", l)
		}
		t.Logf("STARTTLS FAST resumption: %d round trips", rt)
		if rt != 5 {
			t.Errorf("STARTTLS FAST resumption: %d round trips, want 5 (TCP, header, STARTTLS, TLS, one flight)", rt)
		}
		detach(s)

		// SASL2 turned off: the classic login on the same server.
		classic := cfg
		classic.NoSASL2 = true
		st, _ = session.LoadState(path, account)
		s = mustConnect(t, classic, st)
		if l := s.Login(); l.SASL2 || !l.Resumed {
			t.Fatalf("with SASL2 off: %+v", l)
		}
		s.Abort()

		time.Sleep(100 * time.Millisecond)
		log := logs.String()
		for _, secret := range append(tokens, integration.Password) {
			if secret == "" {
				continue
			}
			for _, where := range append([]string{log}, printed...) {
				if strings.Contains(where, secret) {
					t.Errorf("a secret shows in the log or a printed State")
				}
			}
		}
		if !strings.Contains(log, "downgrade_protection=true") {
			t.Error("XEP-0474's hash was never checked")
		}
		if !strings.Contains(log, "FAST token refused") {
			t.Error("the debug log does not record the refused token (is it captured?)")
		}
	})
}
