package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
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

// TestListenWithoutAddrNamesTheDomain: listen without --addr names the
// JID's domain where it connects, as send and chat do, never an empty
// address ("cannot connect to : ...").
func TestListenWithoutAddrNamesTheDomain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Nothing serves XMPP on 127.0.0.1:5222 (the fallback without SRV
	// records): the first login fails, which ends listen.
	r := runXmppbg(ctx, map[string]string{envPassword: "pw"}, "listen", "--json", "--no-detect-suspend",
		"--login-timeout", "3s", "--jid", "alice@127.0.0.1")
	if r.code == exitOK {
		t.Fatalf("listen succeeded without a server; stderr %q", r.stderr)
	}
	var connecting []map[string]any
	for _, ev := range eventsNamed(jsonLines(t, r.stdout), "state") {
		if ev["state"] == "connecting" {
			connecting = append(connecting, ev)
		}
	}
	if len(connecting) == 0 || connecting[0]["addr"] != "127.0.0.1" {
		t.Errorf("connecting states %v: want addr \"127.0.0.1\" (the domain)", connecting)
	}
	if strings.Contains(r.stderr, " : ") || strings.Contains(r.stderr, "to  ") {
		t.Errorf("the error names no address: %q", r.stderr)
	}
}

// send's --timeout bounds the wait for the acknowledgement, and a message
// not acknowledged in time exits 6 as the help says: the session's own ack
// timeout (10 s, for a supervisor that resends on a new connection) must not
// end send's one session first, with exit 5, when --timeout is longer.
func TestSendSessionHasNoAckTimeout(t *testing.T) {
	t.Parallel()
	var c session.Config
	sendSession(&c)
	if !c.NoPresence || c.AckTimeout >= 0 {
		t.Errorf("send's session: NoPresence %v, AckTimeout %v; want true and negative (off)", c.NoPresence, c.AckTimeout)
	}
}
