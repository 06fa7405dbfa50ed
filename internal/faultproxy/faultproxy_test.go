package faultproxy_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
)

// echoServer is a TCP echo server on 127.0.0.1 that counts the connections
// it has seen end.
type echoServer struct {
	addr   string
	closed atomic.Int64
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{addr: ln.Addr().String()}
	done := make(chan struct{})
	var conns []net.Conn
	connsCh := make(chan net.Conn)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsCh <- c
			go func() {
				_, _ = io.Copy(c, c)
				_ = c.Close()
				s.closed.Add(1)
			}()
		}
	}()
	go func() {
		for c := range connsCh {
			conns = append(conns, c)
		}
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		close(connsCh)
	})
	return s
}

func startProxy(t *testing.T, upstream string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads it back, returning how long it took.
func roundTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
	return time.Since(start)
}

// readErr reads once with a deadline and returns the error.
func readErr(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [64]byte
	_, err := c.Read(b[:])
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestForward(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p := startProxy(t, echo.addr)
	if p.Upstream() != echo.addr {
		t.Errorf("Upstream() = %q, want %q", p.Upstream(), echo.addr)
	}
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	for i := 0; i < 3; i++ {
		roundTrip(t, a, "<message>hello</message>")
		roundTrip(t, b, "<iq/>")
	}
	// A client's close reaches the upstream.
	_ = a.Close()
	eventually(t, "upstream to see the close", func() bool { return echo.closed.Load() == 1 })
	roundTrip(t, b, "still here")
}

func TestResetPeer(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p := startProxy(t, echo.addr)
	c := dial(t, p.Addr())
	roundTrip(t, c, "before")

	start := time.Now()
	if err := p.ResetPeer(); err != nil {
		t.Fatal(err)
	}
	// The idle connection is torn without any data flowing.
	err := readErr(c, time.Second)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after ResetPeer: %v, want ECONNRESET", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("reset took %v", d)
	}
	eventually(t, "upstream to see the close", func() bool { return echo.closed.Load() == 1 })

	// One-shot: a new connection works.
	roundTrip(t, dial(t, p.Addr()), "after")
}

func TestDownUp(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p := startProxy(t, echo.addr)
	addr := p.Addr()
	c := dial(t, addr)
	roundTrip(t, c, "before")

	if err := p.Down(); err != nil {
		t.Fatal(err)
	}
	if err := p.Down(); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	if err := readErr(c, time.Second); err == nil || isTimeout(err) {
		t.Fatalf("existing connection after Down: %v, want it closed", err)
	}
	eventually(t, "upstream to see the close", func() bool { return echo.closed.Load() == 1 })
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c2.Close()
		t.Fatal("dial while Down succeeded")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while Down: %v, want ECONNREFUSED", err)
	}

	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if err := p.Up(); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if p.Addr() != addr {
		t.Fatalf("Addr changed across Down/Up: %s -> %s", addr, p.Addr())
	}
	roundTrip(t, dial(t, addr), "after")
}

func TestConns(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p := startProxy(t, echo.addr)
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns() = %d at start", n)
	}
	for i := 0; i < 3; i++ {
		roundTrip(t, dial(t, p.Addr()), "x")
	}
	if n := p.Conns(); n != 3 {
		t.Fatalf("Conns() = %d, want 3", n)
	}
	if err := p.Down(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("dial while Down succeeded")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), "y")
	if n := p.Conns(); n != 4 {
		t.Fatalf("Conns() = %d after Down/Up, want 4 (refused dials do not count)", n)
	}
}

func TestUnreachableUpstream(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	p := startProxy(t, dead)
	c := dial(t, p.Addr())
	if err := readErr(c, time.Second); err == nil || isTimeout(err) {
		t.Fatalf("read with unreachable upstream: %v, want the connection closed", err)
	}
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d, want 1", n)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p, err := faultproxy.Start(echo.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	roundTrip(t, c, "x")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := readErr(c, time.Second); err == nil || isTimeout(err) {
		t.Fatalf("connection after Close: %v, want it closed", err)
	}
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c2.Close()
		t.Fatal("dial after Close succeeded")
	}
	for name, f := range map[string]func() error{
		"Up": p.Up, "Down": p.Down, "ResetPeer": p.ResetPeer,
	} {
		if err := f(); !errors.Is(err, faultproxy.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
