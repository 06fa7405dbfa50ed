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
			_, p, err := net.SplitHostPort(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(p)
			for _, name := range []string{"none", "rst", "blackhole"} {
				t.Run(name, func(t *testing.T) {
					t.Cleanup(func() { must(t, lab.Clear()) })
					fault := pathFault{name: "kernel " + name}
					if name != "none" {
						fault.apply = func(t *testing.T, pid int) {
							flows, err := netlab.Flows(pid, port)
							if err != nil {
								t.Fatal(err)
							}
							if len(flows) != 1 {
								t.Fatalf("the chat has %d connections to the server (%v), want 1", len(flows), flows)
							}
							if name == "rst" {
								must(t, lab.Reset(flows...))
							} else {
								must(t, lab.Blackhole(flows...))
							}
						}
					}
					suspensionCycle(t, bin, srv, srv.Addr(), fault)
				})
			}
			// A message typed into a connection the kernel black-holes
			// while the app runs: the kernel retransmits it in vain; the
			// ack timeout finds the connection dead.
			t.Run("send-into-blackhole", func(t *testing.T) {
				t.Cleanup(func() { must(t, lab.Clear()) })
				deadSendCycle(t, bin, srv, srv.Addr(), pathFault{name: "kernel blackhole while running", apply: func(t *testing.T, pid int) {
					flows, err := netlab.Flows(pid, port)
					if err != nil {
						t.Fatal(err)
					}
					if len(flows) != 1 {
						t.Fatalf("the chat has %d connections to the server (%v), want 1", len(flows), flows)
					}
					must(t, lab.Blackhole(flows...))
				}})
			})
		})
	})
}
