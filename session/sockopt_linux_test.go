package session_test

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xmppbg/xmppbg/session"
)

// sockopt reads an integer socket option of c.
func sockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// The default dialer sets TCP_USER_TIMEOUT and a slow keepalive on the
// socket; negative values leave them off.
func TestDialerSocketOptions(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, tc := range []struct {
		name          string
		cfg           session.Config
		userTimeoutMs int
		keepAlive     int // seconds; 0: off
	}{
		{"defaults", session.Config{}, int(session.DefaultTCPUserTimeout / time.Millisecond), int(session.DefaultKeepAlive / time.Second)},
		{"chosen", session.Config{TCPUserTimeout: 45 * time.Second, KeepAlive: time.Minute}, 45000, 60},
		{"off", session.Config{TCPUserTimeout: -1, KeepAlive: -1}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfg.Dialer().DialContext(context.Background(), "tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := sockopt(t, c, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); got != tc.userTimeoutMs {
				t.Errorf("TCP_USER_TIMEOUT = %d ms, want %d", got, tc.userTimeoutMs)
			}
			on := sockopt(t, c, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			if (on != 0) != (tc.keepAlive != 0) {
				t.Fatalf("SO_KEEPALIVE = %d, want keepalive %ds", on, tc.keepAlive)
			}
			if tc.keepAlive == 0 {
				return
			}
			if idle := sockopt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); idle != tc.keepAlive {
				t.Errorf("TCP_KEEPIDLE = %ds, want %ds", idle, tc.keepAlive)
			}
			if intvl := sockopt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL); intvl != tc.keepAlive {
				t.Errorf("TCP_KEEPINTVL = %ds, want %ds", intvl, tc.keepAlive)
			}
		})
	}
}
