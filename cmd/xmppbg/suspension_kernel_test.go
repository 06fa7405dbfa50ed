//go:build unix

package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/netlab"
)

// The path dies in the kernel: the servers, the chat process and bob run in
// a private network namespace (internal/netlab), and nftables drops (black
// hole) or rejects with a TCP reset the chat's established flow to the
// server, or leaves it alone, while the process is stopped; new flows pass.
// See suspensionCycle. Then, with the app running, a message is typed into
// its connection black-holed by the kernel (see deadSendCycle). It needs root
// and nft: without them it skips, and under CI=true it fails.
func TestSuspensionKernelFaults(t *testing.T) {
	t.Parallel()
	netlab.Run(t, func(t *testing.T, lab *netlab.Lab) {
		bin := buildBinary(t)
		integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
			t.Parallel() // the servers, side by side: most of each cycle is waiting
			_, p, err := net.SplitHostPort(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(p)
			for _, name := range []string{"none", "rst", "blackhole"} {
				t.Run(name, func(t *testing.T) {
					fault := pathFault{name: "kernel " + name}
					if name != "none" {
						fault.apply = func(t *testing.T, pid int) { breakFlow(t, lab, pid, port, name == "rst") }
					}
					suspensionCycle(t, bin, srv, srv.Addr(), fault)
				})
			}
			// A message typed into a connection the kernel black-holes
			// while the app runs: the kernel retransmits it in vain; the
			// ack timeout finds the connection dead.
			t.Run("send-into-blackhole", func(t *testing.T) {
				deadSendCycle(t, bin, srv, srv.Addr(), pathFault{name: "kernel blackhole while running",
					apply: func(t *testing.T, pid int) { breakFlow(t, lab, pid, port, false) }})
			})
		})
	})
}

// breakFlow black-holes (or, with reset, resets) the one established
// connection of process pid to port, until the end of the test.
func breakFlow(t *testing.T, lab *netlab.Lab, pid, port int, reset bool) {
	t.Helper()
	flows, err := netlab.Flows(pid, port)
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 1 {
		t.Fatalf("the chat has %d connections to the server (%v), want 1", len(flows), flows)
	}
	var f *netlab.Fault
	if reset {
		f, err = lab.Reset(flows...)
	} else {
		f, err = lab.Blackhole(flows...)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Remove(); err != nil {
			t.Error(err)
		}
	})
}
