package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

// On the servers with SASL2 and FAST, two chats with a state file: the
// first logs in with the password and gets a FAST token, the second logs
// in with the token. Neither the password nor any token appears in stdout
// (JSON), stderr or the debug log.
func TestIntegrationSASL2NoSecretsPrinted(t *testing.T) {
	const pw = "sasl2-password-0xc0ffee"
	accounts := map[string]string{"alice": pw}
	type server interface {
		Addr() string
		Domain() string
		CAFile() string
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) server
	}{
		{"prosody-13", func(t *testing.T) server {
			return integration.StartProsody(t, prosody.Options{Version: prosody.Version13, Accounts: accounts})
		}},
		{"ejabberd-24.12", func(t *testing.T) server {
			return integration.StartEjabberd(t, ejabberd.Options{Version: ejabberd.Version2412, Accounts: accounts})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			alice := "alice@" + srv.Domain()
			stateFile := filepath.Join(t.TempDir(), "state.json")
			var out string
			var tokens []string
			for i, want := range []string{"SCRAM-", "HT-SHA-256-"} {
				r := runXmppbg(t.Context(), map[string]string{envPassword: pw}, "chat", "--json", "--log-level", "debug",
					"--state-file", stateFile, "--jid", alice, "--addr", srv.Addr(), "--ca-file", srv.CAFile())
				if r.code != exitOK {
					t.Fatalf("chat %d: exit %d; stderr %q", i, r.code, r.stderr)
				}
				if !regexp.MustCompile(`msg="SASL2 success" .*mechanism=` + want).MatchString(r.stderr) {
					t.Errorf("chat %d did not log in with %s: %s\n%s", i, want, r.stderr, r.stdout)
				}
				out += r.stdout + r.stderr
				st, err := session.LoadState(stateFile, alice)
				if err != nil || st.FAST == nil {
					t.Fatalf("chat %d: state %v, %v", i, st, err)
				}
				tokens = append(tokens, st.FAST.Token)
				if fi, err := os.Stat(stateFile); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("state file mode: %v %v", fi, err)
				}
			}
			for _, secret := range append(tokens, pw) {
				if strings.Contains(out, secret) {
					t.Errorf("a secret was printed")
				}
			}
		})
	}
}
