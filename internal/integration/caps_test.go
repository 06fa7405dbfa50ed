package integration

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The login-related Caps say what each server really offers on its direct
// TLS port, to a stream header that names the user (XEP-0484).
func TestCapsMatchFeatures(t *testing.T) {
	Each(t, Options{DirectTLSPort: true}, func(t *testing.T, srv Server) {
		_, f := DirectTLSFeatures(t, srv, "alice")
		caps := srv.Caps()
		if got := strings.Contains(f, "<authentication xmlns='urn:xmpp:sasl:2'>"); got != caps.SASL2 {
			t.Errorf("SASL2 offered: %v, Caps.SASL2 %v: %s", got, caps.SASL2, f)
		}
		if caps.SASL2 {
			for _, want := range []string{"urn:xmpp:bind:0", "<fast xmlns='urn:xmpp:fast:0'>", "HT-SHA-256-EXPR", "HT-SHA-256-NONE", "<sm xmlns='urn:xmpp:sm:3'/>"} {
				if !strings.Contains(f, want) {
					t.Errorf("SASL2 without %s: %s", want, f)
				}
			}
		}
		// The classic SASL mechanisms (SASL2's are the same on both).
		classic := f[strings.Index(f, "<mechanisms"):]
		classic = classic[:strings.Index(classic, "</mechanisms>")]
		var scram []string
		for _, m := range regexp.MustCompile(`<mechanism>(SCRAM-[^<]+)</mechanism>`).FindAllStringSubmatch(classic, -1) {
			scram = append(scram, m[1])
		}
		var cb []string
		for _, m := range regexp.MustCompile(`<channel-binding type='([^']+)'`).FindAllStringSubmatch(f, -1) {
			cb = append(cb, m[1])
		}
		slices.Sort(scram)
		slices.Sort(cb)
		if want := slices.Sorted(slices.Values(caps.SCRAM)); !slices.Equal(scram, want) {
			t.Errorf("SCRAM offered %q, Caps.SCRAM %q", scram, want)
		}
		if want := slices.Sorted(slices.Values(caps.ChannelBindings)); !slices.Equal(cb, want) {
			t.Errorf("channel bindings offered %q, Caps.ChannelBindings %q", cb, want)
		}
	})
}
