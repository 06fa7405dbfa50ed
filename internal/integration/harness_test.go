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
	for _, h := range Harnesses() {
		if h.Name == "" || seen[h.Name] || h.start == nil {
			t.Errorf("harness %q: empty, duplicate or without start", h.Name)
		}
		seen[h.Name] = true
	}
}
