//go:build linux

package suspend_test

import (
	"net"
	"syscall"
	"testing"
	"unsafe"

	"github.com/xmppbg/xmppbg/suspend"
)

// kernelQueued returns how many received bytes wait in the kernel for c.
func kernelQueued(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int32
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Fatal(errno)
	}
	return int(n)
}

// TestTCPFreezeLeavesBytesInKernel shows that a frozen Conn reads nothing:
// what the peer sends waits in the kernel's receive buffer until Thaw.
func TestTCPFreezeLeavesBytesInKernel(t *testing.T) {
	c, raw, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	c.Freeze()
	// Freeze returns once the Read has left the socket.
	if suspend.InIO(c) != 0 || suspend.Parked(c) != 1 {
		t.Fatalf("after Freeze: %d calls in the socket, %d parked; want 0, 1", suspend.InIO(c), suspend.Parked(c))
	}

	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bytes reach the kernel", func() bool { return kernelQueued(t, raw) == 5 })
	wantSilentOpen(t, peer) // time for a wrongly running Read to take them
	if q := kernelQueued(t, raw); q != 5 || suspend.InIO(c) != 0 {
		t.Fatalf("while frozen: %d bytes in the kernel, %d calls in the socket; want 5, 0", q, suspend.InIO(c))
	}
	pending(t, got, "Read while frozen")

	c.Thaw()
	if r := await(t, got, "Read"); r.data != "hello" || r.err != nil {
		t.Fatalf("Read after Thaw = %q, %v", r.data, r.err)
	}
	if q := kernelQueued(t, raw); q != 0 {
		t.Fatalf("%d bytes left in the kernel after Thaw", q)
	}
}

// TestTCPBlackholeLeavesBytesInKernel shows that a blackholed Conn never
// reads what the peer sends.
func TestTCPBlackholeLeavesBytesInKernel(t *testing.T) {
	c, raw, peer := tcpPair(t)
	if err := c.Inject(suspend.FaultBlackhole); err != nil {
		t.Fatal(err)
	}
	got := readAsync(c)
	if _, err := peer.Write([]byte("ignored")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bytes reach the kernel", func() bool { return kernelQueued(t, raw) == 7 })
	parked(t, c, 1)
	pending(t, got, "Read from a blackhole")
	c.Close()
	wantClosed(t, await(t, got, "Read").err)
}
