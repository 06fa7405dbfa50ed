package faultproxy_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/echotest"
	"github.com/xmppbg/xmppbg/internal/faultproxy"
)

func startProxy(t *testing.T, upstream string) *faultproxy.Proxy {
	t.Helper()
	return echotest.StartProxy(t, faultproxy.Start, upstream)
}

func TestForward(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	if p.Upstream() != echo.Addr {
		t.Errorf("Upstream() = %q, want %q", p.Upstream(), echo.Addr)
	}
	a, b := echotest.Dial(t, p.Addr()), echotest.Dial(t, p.Addr())
	for i := 0; i < 3; i++ {
		echotest.RoundTrip(t, a, "<message>hello</message>")
		echotest.RoundTrip(t, b, "<iq/>")
	}
	// A client's close reaches the upstream.
	_ = a.Close()
	echotest.Eventually(t, "upstream to see the close", func() bool { return echo.Closed.Load() == 1 })
	echotest.RoundTrip(t, b, "still here")
}

func TestResetPeer(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	c := echotest.Dial(t, p.Addr())
	echotest.RoundTrip(t, c, "before")

	start := time.Now()
	if err := p.ResetPeer(); err != nil {
		t.Fatal(err)
	}
	// The idle connection is torn without any data flowing.
	err := echotest.ReadErr(c, time.Second)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after ResetPeer: %v, want ECONNRESET", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("reset took %v", d)
	}
	echotest.Eventually(t, "upstream to see the close", func() bool { return echo.Closed.Load() == 1 })

	// One-shot: a new connection works.
	echotest.RoundTrip(t, echotest.Dial(t, p.Addr()), "after")
}

func TestDownUp(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	addr := p.Addr()
	c := echotest.Dial(t, addr)
	echotest.RoundTrip(t, c, "before")

	if err := p.Down(); err != nil {
		t.Fatal(err)
	}
	if err := p.Down(); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	if err := echotest.ReadErr(c, time.Second); err == nil || echotest.IsTimeout(err) {
		t.Fatalf("existing connection after Down: %v, want it closed", err)
	}
	echotest.Eventually(t, "upstream to see the close", func() bool { return echo.Closed.Load() == 1 })
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
	echotest.RoundTrip(t, echotest.Dial(t, addr), "after")
}

func TestConns(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns() = %d at start", n)
	}
	for i := 0; i < 3; i++ {
		echotest.RoundTrip(t, echotest.Dial(t, p.Addr()), "x")
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
	echotest.RoundTrip(t, echotest.Dial(t, p.Addr()), "y")
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
	c := echotest.Dial(t, p.Addr())
	if err := echotest.ReadErr(c, time.Second); err == nil || echotest.IsTimeout(err) {
		t.Fatalf("read with unreachable upstream: %v, want the connection closed", err)
	}
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d, want 1", n)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p, err := faultproxy.Start(echo.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := echotest.Dial(t, p.Addr())
	echotest.CheckClose(t, p, c, faultproxy.ErrClosed, map[string]func() error{
		"Up": p.Up, "Down": p.Down, "ResetPeer": p.ResetPeer, "BlackholeLive": p.BlackholeLive,
	})
}

// BlackholeLive silences the connections that exist, both ways, without
// closing them; a connection made afterwards passes.
func TestBlackholeLive(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	old := echotest.Dial(t, p.Addr())
	echotest.RoundTrip(t, old, "before")

	if err := p.BlackholeLive(); err != nil {
		t.Fatal(err)
	}
	// The write succeeds, nothing comes back, and the connection is not
	// closed: the read ends only by its deadline.
	if _, err := old.Write([]byte("into the void")); err != nil {
		t.Fatalf("write into the black hole: %v", err)
	}
	if err := echotest.ReadErr(old, 300*time.Millisecond); !echotest.IsTimeout(err) {
		t.Fatalf("read from the black hole: %v, want a timeout", err)
	}

	// A new connection goes through.
	fresh := echotest.Dial(t, p.Addr())
	echotest.RoundTrip(t, fresh, "after")
	if p.Conns() != 2 {
		t.Errorf("Conns() = %d, want 2", p.Conns())
	}

	// The client's close of the black-holed connection is lost too: the
	// upstream never sees it end.
	_ = old.Close()
	time.Sleep(100 * time.Millisecond) // a close passed on would arrive now
	if n := echo.Closed.Load(); n != 0 {
		t.Errorf("the upstream saw %d connections end, want 0", n)
	}
	echotest.RoundTrip(t, fresh, "still after")
}
