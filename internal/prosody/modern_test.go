package prosody_test

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

// Prosody 13 (scripts/setup.sh's) runs its own code, not Debian's 0.12 under
// /usr/lib/prosody, and offers the modern login on its direct TLS port.
func TestProsody13ModernLogin(t *testing.T) {
	t.Setenv(integration.EnvServer, "")
	s := integration.StartProsody(t, prosody.Options{
		Version:       prosody.Version13,
		DirectTLSPort: true,
		Accounts:      map[string]string{"alice": "alice-pw"},
	})
	if s.Version() != prosody.Version13 || s.DirectTLSAddr() == "" {
		t.Fatalf("Version %q, DirectTLSAddr %q", s.Version(), s.DirectTLSAddr())
	}
	if log := s.LogTail(200); !strings.Contains(log, "Prosody version 13.") {
		t.Errorf("the log does not name Prosody 13:\n%s", log)
	} else if strings.Contains(log, "warn") {
		t.Errorf("warnings in the log:\n%s", log)
	}

	conn, err := net.DialTimeout("tcp", s.DirectTLSAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, &tls.Config{RootCAs: s.CertPool(), ServerName: s.Domain(), NextProtos: []string{"xmpp-client"}})
	// XEP-0484: FAST is offered when the header names the user.
	header := strings.Replace(prosody.StreamHeader(s.Domain()), "<stream:stream ", "<stream:stream from='alice@"+s.Domain()+"' ", 1)
	if err := send(tc, header); err != nil {
		t.Fatal(err)
	}
	f, err := prosody.ReadUntil(tc, "</stream:features>")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("features: %s", f)
	for _, want := range []string{"urn:xmpp:sasl:2", "urn:xmpp:bind:0", "urn:xmpp:fast:0", "HT-SHA-256-EXPR", "SCRAM-SHA-1-PLUS"} {
		if !strings.Contains(string(f), want) {
			t.Errorf("features lack %s: %s", want, f)
		}
	}
	// A SASL2 PLAIN login with Bind2 and an inline SM enable.
	auth := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-pw"))
	if err := send(tc, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"+auth+
		"</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>xmppbg test</software></user-agent>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>test</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind></authenticate>"); err != nil {
		t.Fatal(err)
	}
	r, err := prosody.ReadUntil(tc, "</success>", "</failure>")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<success", "<authorization-identifier>alice@localhost/", "<bound", "<enabled"} {
		if !strings.Contains(string(r), want) {
			t.Errorf("SASL2 answer lacks %s: %s", want, r)
		}
	}
}
