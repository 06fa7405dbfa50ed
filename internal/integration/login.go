package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/serverproc"
)

// Endpoint is what the hand-made logins here need of a server: a Server,
// a *prosody.Server or an *ejabberd.Server.
type Endpoint interface {
	Addr() string   // c2s (STARTTLS) host:port
	Domain() string // XMPP domain
	CAFile() string // PEM certificate clients should trust
	// DirectTLSAddr is the XEP-0368 direct TLS host:port, "" when none.
	DirectTLSAddr() string
}

// certPool is the pool that trusts s's certificate: the server's own
// CertPool where it has one, else one read from its CAFile.
func certPool(s Endpoint) (*x509.CertPool, error) {
	if p, ok := s.(interface{ CertPool() *x509.CertPool }); ok {
		return p.CertPool(), nil
	}
	return loadPool(s.CAFile())
}

func send(c net.Conn, x string) error { _, err := c.Write([]byte(x)); return err }

// Authenticate logs user in the classic way, by hand: STARTTLS (verifying
// the server's certificate) and SASL PLAIN, and returns the connection
// after <success/>, its deadline 10 s away. With Prosody's
// internal_hashed, PLAIN checks the password against the stored SCRAM
// keys, so this also validates account files.
func Authenticate(s Endpoint, user, password string) (net.Conn, error) {
	pool, err := certPool(s)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (net.Conn, error) { conn.Close(); return nil, err }
	if err := send(conn, serverproc.StreamHeader(s.Domain())); err != nil {
		return fail(err)
	}
	f, err := serverproc.ReadUntil(conn, "</stream:features>")
	if err != nil {
		return fail(err)
	}
	if !bytes.Contains(f, []byte("urn:ietf:params:xml:ns:xmpp-tls")) {
		return fail(fmt.Errorf("no starttls in %s", f))
	}
	if err := send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		return fail(err)
	}
	if _, err := serverproc.ReadUntil(conn, "<proceed"); err != nil {
		return fail(err)
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: s.Domain()})
	if err := tc.Handshake(); err != nil {
		return fail(fmt.Errorf("tls: %w", err))
	}
	if err := send(tc, serverproc.StreamHeader(s.Domain())); err != nil {
		return fail(err)
	}
	if f, err = serverproc.ReadUntil(tc, "</stream:features>"); err != nil {
		return fail(err)
	}
	if !bytes.Contains(f, []byte(">PLAIN<")) {
		return fail(fmt.Errorf("no PLAIN in %s", f))
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if err := send(tc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>"); err != nil {
		return fail(err)
	}
	r, err := serverproc.ReadUntil(tc, "<success", "<failure")
	if err != nil {
		return fail(err)
	}
	if !bytes.Contains(r, []byte("<success")) {
		return fail(fmt.Errorf("login %s: %s", user, r))
	}
	return tc, nil
}

// Login is Authenticate, the connection closed: nil when user could log
// in with password.
func Login(s Endpoint, user, password string) error {
	conn, err := Authenticate(s, user, password)
	if conn != nil {
		conn.Close()
	}
	return err
}

// MustLogin is Login, failing the test when user cannot log in.
func MustLogin(t testing.TB, s Endpoint, user, password string) {
	t.Helper()
	if err := Login(s, user, password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
}

// EnableSM logs user in (Authenticate), binds a resource, enables stream
// management and returns the features after authentication and the
// server's answer to <enable/> (<enabled/> or <failed/>).
func EnableSM(t testing.TB, s Endpoint, user, password string) (features, enabled string) {
	t.Helper()
	conn, err := Authenticate(s, user, password)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	step := func(out string, markers ...string) string {
		t.Helper()
		if err := send(conn, out); err != nil {
			t.Fatal(err)
		}
		in, err := serverproc.ReadUntil(conn, markers...)
		if err != nil {
			t.Fatal(err)
		}
		return string(in)
	}
	features = step(serverproc.StreamHeader(s.Domain()), "</stream:features>")
	step("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>", "</iq>")
	enabled = step("<enable xmlns='urn:xmpp:sm:3' resume='true'/>", "<enabled", "<failed")
	return features, enabled
}

// DirectTLSFeatures dials s's XEP-0368 direct TLS port, sends a stream
// header from user@domain (XEP-0484: servers offer SASL2 and FAST only
// then) and returns the connection, closed at the end of the test, and the
// stream features. The connection's deadline is 10 s away.
func DirectTLSFeatures(t testing.TB, s Endpoint, user string) (*tls.Conn, string) {
	t.Helper()
	if s.DirectTLSAddr() == "" {
		t.Fatal("no DirectTLSAddr")
	}
	pool, err := certPool(s)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", s.DirectTLSAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: s.Domain(), NextProtos: []string{"xmpp-client"}})
	header := strings.Replace(serverproc.StreamHeader(s.Domain()), "<stream:stream ", "<stream:stream from='"+user+"@"+s.Domain()+"' ", 1)
	if err := send(tc, header); err != nil {
		t.Fatal(err)
	}
	f, err := serverproc.ReadUntil(tc, "</stream:features>")
	if err != nil {
		t.Fatal(err)
	}
	return tc, string(f)
}

// ModernLogin checks a modern server's login on its direct TLS port: the
// features offered to a header naming user hold each of want, and a SASL2
// PLAIN login as user with Bind2 and an inline XEP-0198 <enable/> succeeds,
// binds and enables stream management.
func ModernLogin(t testing.TB, s Endpoint, user, password string, want ...string) {
	t.Helper()
	tc, f := DirectTLSFeatures(t, s, user)
	t.Logf("features: %s", f)
	for _, w := range want {
		if !strings.Contains(f, w) {
			t.Errorf("features lack %s: %s", w, f)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if err := send(tc, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"+auth+
		"</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>xmppbg test</software></user-agent>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>test</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind></authenticate>"); err != nil {
		t.Fatal(err)
	}
	r, err := serverproc.ReadUntil(tc, "</success>", "</failure>")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"<success", "<authorization-identifier>" + user + "@" + s.Domain() + "/", "<bound", "<enabled"} {
		if !strings.Contains(string(r), w) {
			t.Errorf("SASL2 answer lacks %s: %s", w, r)
		}
	}
}

// loadPool returns a pool holding the certificates of the PEM file.
func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	return pool, nil
}
