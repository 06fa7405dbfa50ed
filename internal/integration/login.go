package integration

import (
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

// DirectTLSServer is what DirectTLSFeatures and ModernLogin need of a
// server: a Server, a *prosody.Server or an *ejabberd.Server.
type DirectTLSServer interface {
	Domain() string
	CAFile() string
	DirectTLSAddr() string
}

// DirectTLSFeatures dials s's XEP-0368 direct TLS port, sends a stream
// header from user@domain (XEP-0484: servers offer SASL2 and FAST only
// then) and returns the connection, closed at the end of the test, and the
// stream features. The connection's deadline is 10 s away.
func DirectTLSFeatures(t testing.TB, s DirectTLSServer, user string) (*tls.Conn, string) {
	t.Helper()
	if s.DirectTLSAddr() == "" {
		t.Fatal("no DirectTLSAddr")
	}
	pool, err := loadPool(s.CAFile())
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
	if _, err := tc.Write([]byte(header)); err != nil {
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
func ModernLogin(t testing.TB, s DirectTLSServer, user, password string, want ...string) {
	t.Helper()
	tc, f := DirectTLSFeatures(t, s, user)
	t.Logf("features: %s", f)
	for _, w := range want {
		if !strings.Contains(f, w) {
			t.Errorf("features lack %s: %s", w, f)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if _, err := tc.Write([]byte("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>" + auth +
		"</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>xmppbg test</software></user-agent>" +
		"<bind xmlns='urn:xmpp:bind:0'><tag>test</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind></authenticate>")); err != nil {
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
