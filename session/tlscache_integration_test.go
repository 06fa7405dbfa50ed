package session_test

import (
	"crypto/tls"
	"sync"
	"testing"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// The client offers the TLS session of the previous connection on a
// reconnect (TLSConfig's configuration has a session cache), and none of
// the four servers takes it: Prosody and ejabberd (both on OpenSSL) send
// session tickets after every handshake, but a ticket offered back gets a
// full handshake (openssl s_client -sess_in shows "New" too). The test
// records that (Caps.TLSResumption), so that a server that starts resuming
// is noticed; TestTLSConfigResumesSessions shows the client side with a
// server that resumes.
func TestIntegrationTLSSessionResumption(t *testing.T) {
	integration.Each(t, integration.Options{DirectTLSPort: true}, func(t *testing.T, srv integration.Server) {
		for _, tc := range []struct {
			name    string
			direct  bool
			noCache bool
		}{
			{"starttls", false, false},
			{"direct tls", true, false},
			{"direct tls without a cache", true, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := clientConfig(t, srv, "alice", nil)
				cfg.NoPresence, cfg.DirectTLS = true, tc.direct
				if tc.direct {
					cfg.Addr = srv.DirectTLSAddr()
				}
				if tc.noCache {
					cfg.TLS.ClientSessionCache = nil
				}
				var (
					mu      sync.Mutex
					resumed []bool
				)
				cfg.TLS.VerifyConnection = func(cs tls.ConnectionState) error {
					mu.Lock()
					defer mu.Unlock()
					resumed = append(resumed, cs.DidResume)
					return nil
				}
				st := &session.State{}
				s := mustConnect(t, cfg, st)
				if err := s.Detach(); err != nil {
					t.Fatal(err)
				}
				s2 := mustConnect(t, cfg, st)
				defer s2.Close(t.Context())
				mu.Lock()
				defer mu.Unlock()
				want := []bool{false, !tc.noCache && srv.Caps().TLSResumption}
				if len(resumed) != 2 || resumed[0] != want[0] || resumed[1] != want[1] {
					t.Errorf("TLS handshakes resumed: %v, want %v", resumed, want)
				}
			})
		}
	})
}
