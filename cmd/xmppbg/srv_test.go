package main

import (
	"strings"
	"testing"
)

// TestNoAddrUsesSRV: without --addr the session gets no address, so that
// it finds the server through DNS SRV (tested in package session against a
// DNS server on loopback); messages name the domain.
func TestNoAddrUsesSRV(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, wantCfg, wantShown string }{
		{"", "", "example.org"},
		{"127.0.0.1:5999", "127.0.0.1:5999", "127.0.0.1:5999"},
	} {
		g := &globalOptions{
			IO:     &IOStreams{In: strings.NewReader(""), Out: new(syncBuffer), ErrOut: new(syncBuffer)},
			Getenv: func(k string) string { return map[string]string{envPassword: "pw"}[k] },
			JID:    "alice@example.org/res",
			Addr:   tc.addr,
		}
		cfg, err := g.sessionConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Addr != tc.wantCfg || connectAddr(cfg) != tc.wantShown {
			t.Errorf("--addr %q: session address %q, shown %q; want %q, %q", tc.addr, cfg.Addr, connectAddr(cfg), tc.wantCfg, tc.wantShown)
		}
	}
}
