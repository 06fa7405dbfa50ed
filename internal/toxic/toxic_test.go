package toxic_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/toxic"
)

// The faultproxy methods are tested in package faultproxy; these tests cover
// what toxiproxy adds behind it.

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

func startProxy(t *testing.T, upstream string) *toxic.Proxy {
	t.Helper()
	p, err := toxic.Start(upstream)
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
	c := dial(t, p.Addr())
	roundTrip(t, c, "<message>hello</message>")
	_ = c.Close()
	eventually(t, "upstream to see the close", func() bool { return echo.closed.Load() == 1 })
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d, want 1", n)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p := startProxy(t, echo.addr)
	existing := dial(t, p.Addr())
	roundTrip(t, existing, "warm")

	const oneWay = 100 * time.Millisecond
	if err := p.Latency(oneWay); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, existing, "slow"); d < 2*oneWay || d > 2*oneWay+time.Second {
		t.Errorf("round trip on existing connection = %v, want >= %v", d, 2*oneWay)
	}
	fresh := dial(t, p.Addr())
	if d := roundTrip(t, fresh, "slow"); d < 2*oneWay || d > 2*oneWay+time.Second {
		t.Errorf("round trip on new connection = %v, want >= %v", d, 2*oneWay)
	}

	// Replaced, not stacked: stacking would take >= 2*(100+10) ms.
	if err := p.Latency(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, existing, "less"); d < 20*time.Millisecond || d >= 2*oneWay {
		t.Errorf("round trip after replacing latency = %v, want in [20ms, %v)", d, 2*oneWay)
	}

	if err := p.Latency(0); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, existing, "fast"); d >= 2*oneWay {
		t.Errorf("round trip after Latency(0) = %v, want < %v", d, 2*oneWay)
	}
	if err := p.Latency(-time.Second); err == nil {
		t.Error("Latency(negative) did not fail")
	}
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p := startProxy(t, echo.addr)
	c := dial(t, p.Addr())
	roundTrip(t, c, "before")

	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if err := p.Blackhole(); err != nil {
		t.Fatalf("second Blackhole: %v", err)
	}
	if _, err := c.Write([]byte("into the void")); err != nil {
		t.Fatalf("write into blackhole failed: %v", err)
	}
	if err := readErr(c, 150*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read from blackhole: %v, want a timeout (no data, no EOF)", err)
	}
	// Still open, still silent.
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatalf("second write failed: %v", err)
	}
	if err := readErr(c, 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("second read: %v, want a timeout", err)
	}
	if n := echo.closed.Load(); n != 0 {
		t.Errorf("upstream saw %d closes during blackhole, want 0", n)
	}

	// New connections are accepted but just as silent.
	c2 := dial(t, p.Addr())
	if _, err := c2.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := readErr(c2, 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read on new connection: %v, want a timeout", err)
	}

	// Clear: dropped bytes cannot be recovered, so toxiproxy closes the
	// blackholed connections; new ones work.
	if err := p.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := readErr(c, time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("blackholed connection after Clear: %v, want EOF", err)
	}
	roundTrip(t, dial(t, p.Addr()), "after")
}

func TestClose(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	p, err := toxic.Start(echo.addr)
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
	for name, f := range map[string]func() error{
		"Up": p.Up, "Down": p.Down, "ResetPeer": p.ResetPeer, "Blackhole": p.Blackhole, "Clear": p.Clear,
		"Latency": func() error { return p.Latency(time.Millisecond) },
	} {
		if err := f(); !errors.Is(err, toxic.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
