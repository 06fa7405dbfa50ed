package scenario_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/internal/scenario"
)

// hibernation is the test servers' XEP-0198 hibernation time: short, so
// that the scenarios that outlast it stay short.
const hibernation = 5 * time.Second

// TestBundledScenarios runs every bundled scenario against its own real
// Prosody (skipped without the prosody binary, except under CI=true) and
// checks that every expectation is met.
func TestBundledScenarios(t *testing.T) {
	app := buildApp(t)
	for _, name := range scenario.BundledNames() {
		t.Run(strings.TrimSuffix(name, ".scn"), func(t *testing.T) {
			t.Parallel()
			s, _ := scenario.Bundled(name)
			pw := map[string]string{"alice": "alice's test password", "bob": "bob's test password"}
			srv := integration.StartProsody(t, prosody.Options{Accounts: pw, Hibernation: hibernation})
			env := scenario.Env{
				Addr: srv.Addr(), Domain: srv.Domain(), CAFile: srv.CAFile(),
				Alice:       scenario.Account{Password: pw["alice"]},
				Bob:         scenario.Account{Password: pw["bob"]},
				Hibernation: srv.Hibernation(),
				AppBinary:   app,
			}
			if srv.External() {
				if usesServerControl(s) {
					t.Skip("an external server cannot be restarted")
				}
				if srv.Hibernation() > 10*time.Second && strings.Contains(s.String(), "wait hibernation") {
					t.Skip("the external server's hibernation time is too long for this scenario")
				}
			} else {
				env.Server = srv
			}
			start := time.Now()
			res, err := scenario.Run(t.Context(), env, s)
			if res != nil {
				var b bytes.Buffer
				res.WriteText(&b)
				t.Logf("%s", b.String())
			}
			if err != nil {
				t.Fatal(err)
			}
			var svg bytes.Buffer
			if err := res.WriteSVG(&svg); err != nil {
				t.Fatal(err)
			}
			checkSVG(t, svg.Bytes())
			if !res.Passed() {
				t.Errorf("%s failed: %v", name, res.Failures)
			}
			sum := res.Summary
			for _, f := range []scenario.Flow{sum.AliceToBob, sum.BobToAlice} {
				if f.Lost != 0 || f.Duplicated != 0 || f.Sent == 0 {
					t.Errorf("%s -> %s: %+v", f.From, f.To, f)
				}
			}
			t.Logf("%s took %v", name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func usesServerControl(s *scenario.Script) bool {
	text := s.String()
	return strings.Contains(text, "server restart") || strings.Contains(text, "server kill")
}

// buildApp builds the xmppbg binary, which runs alice in a process of her
// own in the scenarios that freeze her app.
func buildApp(t *testing.T) string {
	t.Helper()
	return integration.BuildXmppbg(t, false)
}
