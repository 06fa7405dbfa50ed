package suspend_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/xmppbg/xmppbg/suspend"
)

// The socket under a Conn is reachable for socket options; a pipe has none.
func TestConnSyscallConn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := suspend.WrapConn(nc)
	defer c.Close()
	var sc syscall.Conn = c
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(func(uintptr) {}); err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer b.Close()
	if _, err := suspend.WrapConn(a).SyscallConn(); err == nil {
		t.Error("a pipe has a socket")
	}
}
