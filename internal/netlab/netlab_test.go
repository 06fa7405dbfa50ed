package netlab_test

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/echotest"
	"github.com/xmppbg/xmppbg/internal/netlab"
)

// The kernel-level faults on real sockets: in the lab, the test process
// itself is in the namespace, so its own connections are the flows.
func TestLab(t *testing.T) {
	netlab.Run(t, func(t *testing.T, lab *netlab.Lab) {
		echo := echotest.Start(t)
		port := portOf(t, echo.Addr)
		holed := echotest.Dial(t, echo.Addr)
		reset := echotest.Dial(t, echo.Addr)
		echotest.RoundTrip(t, holed, "before")
		echotest.RoundTrip(t, reset, "before")

		flows, err := netlab.Flows(os.Getpid(), port)
		if err != nil {
			t.Fatal(err)
		}
		if len(flows) != 2 {
			t.Fatalf("Flows = %v, want the two connections to %d", flows, port)
		}
		byLocal := map[int]netlab.Flow{}
		for _, f := range flows {
			byLocal[f.Local] = f
		}
		hole, err := lab.Blackhole(byLocal[portOf(t, holed.LocalAddr().String())])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lab.Reset(byLocal[portOf(t, reset.LocalAddr().String())]); err != nil {
			t.Fatal(err)
		}

		// Black hole: the write is taken by the kernel, nothing comes
		// back, and nothing closes the connection.
		if _, err := holed.Write([]byte("into the void")); err != nil {
			t.Fatalf("write into the black hole: %v", err)
		}
		if err := echotest.ReadErr(holed, 500*time.Millisecond); !echotest.IsTimeout(err) {
			t.Fatalf("read from the black hole: %v, want a timeout\n%s", err, lab.Rules())
		}
		// Reset: the first packet sent is answered with a RST.
		if _, err := reset.Write([]byte("rejected")); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := echotest.ReadErr(reset, 2*time.Second); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after the reset: %v, want ECONNRESET\n%s", err, lab.Rules())
		}
		// A new connection passes: it has another local port.
		echotest.RoundTrip(t, echotest.Dial(t, echo.Addr), "a new flow")

		// Removing the black hole lets its flow through again, the
		// reset's rules staying: the kernel's retransmission delivers
		// what was written.
		if err := hole.Remove(); err != nil {
			t.Fatal(err)
		}
		if _, err := holed.Write([]byte("!")); err != nil {
			t.Fatal(err)
		}
		_ = holed.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, len("into the void!"))
		if n, err := holed.Read(buf); err != nil || n == 0 {
			t.Fatalf("read after Clear: %d bytes, %v", n, err)
		}
	})
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	var port int
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			for _, c := range addr[i+1:] {
				port = port*10 + int(c-'0')
			}
			return port
		}
	}
	t.Fatalf("no port in %q", addr)
	return 0
}
