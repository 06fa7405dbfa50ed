//go:build unix

package main

import (
	"testing"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/integration"
)

// The path dies in an external TCP proxy between the chat process and the
// server (the client knows only the proxy's address): the live connection
// is reset, or silently black-holed while new connections pass (a NAT that
// lost its mapping), or left alone, while the process is stopped (see
// suspensionCycle); then black-holed while it runs, with a message typed
// into it (see deadSendCycle).
func TestSuspensionProxyFaults(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		t.Parallel() // the servers, side by side: most of each cycle is waiting
		for _, name := range []string{"none", "rst", "blackhole"} {
			t.Run(name, func(t *testing.T) {
				proxy, err := faultproxy.Start(srv.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer proxy.Close()
				fault := pathFault{name: "proxy " + name}
				switch name {
				case "rst":
					fault.apply = func(t *testing.T, _ int) { must(t, proxy.ResetPeer()) }
				case "blackhole":
					fault.apply = func(t *testing.T, _ int) { must(t, proxy.BlackholeLive()) }
				}
				suspensionCycle(t, bin, srv, proxy.Addr(), fault)
				if name != "none" && proxy.Conns() < 2 {
					t.Errorf("%s: the chat never dialled again (%d connections)", fault.name, proxy.Conns())
				}
			})
		}
		// A message typed into a connection the proxy black-holes while
		// the app runs (see deadSendCycle).
		t.Run("send-into-blackhole", func(t *testing.T) {
			proxy, err := faultproxy.Start(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			deadSendCycle(t, bin, srv, proxy.Addr(), pathFault{name: "proxy blackhole while running",
				apply: func(t *testing.T, _ int) { must(t, proxy.BlackholeLive()) }})
		})
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
