package integration

import (
	"strings"
	"testing"
)

func TestUnsupported(t *testing.T) {
	h := Harness{Name: "bare"}
	if why := h.unsupported(Options{MAM: true, Hibernation: 1}); why != "" {
		t.Errorf("plain options unsupported: %q", why)
	}
	why := h.unsupported(Options{DirectTLSPort: true, DisableSM: true})
	if !strings.Contains(why, "direct TLS") || !strings.Contains(why, "stream management") {
		t.Errorf("unsupported = %q, want both reasons", why)
	}
	h.Caps = Caps{DirectTLS: true, NoSM: true}
	if why := h.unsupported(Options{DirectTLSPort: true, DisableSM: true}); why != "" {
		t.Errorf("with the capabilities: %q", why)
	}
}

// Every harness has a distinct name, the subtest's name.
func TestHarnessNames(t *testing.T) {
	seen := map[string]bool{}
	for _, h := range AllHarnesses() {
		if h.Name == "" || seen[h.Name] || h.start == nil {
			t.Errorf("harness %q: empty, duplicate or without start", h.Name)
		}
		seen[h.Name] = true
	}
}

func TestSelectHarnesses(t *testing.T) {
	names := func(hs []Harness) string {
		var n []string
		for _, h := range hs {
			n = append(n, h.Name)
		}
		return strings.Join(n, ",")
	}
	for sel, want := range map[string]string{
		"":                           "prosody-0.12,ejabberd-23.01,prosody-13,ejabberd-24.12",
		"prosody":                    "prosody-0.12,prosody-13",
		"ejabberd-24.12, prosody-13": "prosody-13,ejabberd-24.12",
		"ejabberd,prosody-0.12":      "prosody-0.12,ejabberd-23.01,ejabberd-24.12",
	} {
		hs, err := selectHarnesses(sel)
		if err != nil || names(hs) != want {
			t.Errorf("selectHarnesses(%q) = %s, %v; want %s", sel, names(hs), err, want)
		}
	}
	if _, err := selectHarnesses("prosody-14"); err == nil || !strings.Contains(err.Error(), EnvServers) {
		t.Errorf("unknown server: %v", err)
	}
}
