package session_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// A configuration from TLSConfig resumes the TLS session of an earlier
// connection when the server allows it (a Go TLS 1.3 server with session
// tickets here: none of the four real servers does, see
// TestIntegrationTLSSessionResumption).
func TestTLSConfigResumesSessions(t *testing.T) {
	cert, pool := certs(t)
	cfg, err := session.TLSConfig("example.org", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientSessionCache == nil {
		t.Fatal("TLSConfig has no session cache")
	}
	cfg.RootCAs = pool
	var (
		mu      sync.Mutex
		resumed []bool
	)
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		mu.Lock()
		defer mu.Unlock()
		resumed = append(resumed, cs.DidResume)
		return nil
	}
	// One server configuration, so that its ticket keys last across
	// connections.
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"xmpp-client"}}
	// Loopback TCP rather than a pipe: the server's session tickets and the
	// client's stream header cross in the kernel's buffers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	connect := func() {
		c := session.Config{
			JID: "alice@example.org", Password: "secret-password", Addr: "example.org:5223",
			TLS: cfg, DirectTLS: true, LoginTimeout: 10 * time.Second,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, l.Addr().String())
				if err != nil {
					return nil, err
				}
				s, err := l.Accept()
				if err != nil {
					c.Close()
					return nil, err
				}
				go func() {
					defer s.Close()
					tc := tls.Server(s, srvCfg)
					if tc.Handshake() != nil {
						return
					}
					// A stream error after the header: the client reads
					// (and so takes the session tickets) and gives up.
					io.WriteString(tc, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='example.org' id='x'>"+
						"<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
					io.Copy(io.Discard, tc)
				}()
				return c, nil
			},
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if s, err := session.Connect(ctx, c, nil); err == nil {
			s.Abort()
			t.Fatal("Connect succeeded against a server that only says no")
		}
	}
	connect()
	connect()
	mu.Lock()
	defer mu.Unlock()
	if len(resumed) != 2 || resumed[0] || !resumed[1] {
		t.Errorf("handshakes resumed: %v, want [false true]", resumed)
	}
}
