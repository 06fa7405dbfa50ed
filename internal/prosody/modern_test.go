package prosody_test

import (
	"strings"
	"testing"

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
	// XEP-0484: FAST is offered when the header names the user.
	integration.ModernLogin(t, s, "alice", "alice-pw",
		"urn:xmpp:sasl:2", "urn:xmpp:bind:0", "urn:xmpp:fast:0", "HT-SHA-256-EXPR", "SCRAM-SHA-1-PLUS")
}
