package ejabberd_test

import (
	"testing"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/integration"
)

// ejabberd 24.12 (scripts/setup.sh's) runs its own code, not Debian's 23.01
// (Start checks the version the server reports), and offers the modern
// login on its direct TLS port.
func TestEjabberd2412ModernLogin(t *testing.T) {
	s := integration.StartEjabberd(t, ejabberd.Options{
		Version:       ejabberd.Version2412,
		DirectTLSPort: true,
		Accounts:      map[string]string{"alice": "alice-pw"},
	})
	if s.Version() != ejabberd.Version2412 || s.DirectTLSAddr() == "" {
		t.Fatalf("Version %q, DirectTLSAddr %q", s.Version(), s.DirectTLSAddr())
	}
	// ejabberd offers SASL2 (and FAST) only when the header names the user.
	integration.ModernLogin(t, s, "alice", "alice-pw",
		"urn:xmpp:sasl:2", "urn:xmpp:bind:0", "urn:xmpp:fast:0", "HT-SHA-256-EXPR", "SCRAM-SHA-256-PLUS")
}
