package suspend_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// These tests run over real loopback TCP, on the real clock (a socket is not
// durably blocking, so synctest cannot be used). They wait for conditions,
// never for fixed times, except the short deadlines that prove silence.

// silence is how long a peer listens to prove that nothing arrives.
const silence = 100 * time.Millisecond

// tcpPair returns a loopback TCP connection: the app's end wrapped, the raw
// socket under it, and the peer's end.
func tcpPair(t *testing.T) (c *suspend.Conn, raw, peer *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		p, _ := ln.Accept()
		accepted <- p
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-accepted
	if p == nil {
		t.Fatal("accept failed")
	}
	c = suspend.WrapConn(nc)
	t.Cleanup(func() {
		c.Close()
		p.Close()
	})
	return c, nc.(*net.TCPConn), p.(*net.TCPConn)
}

// eventually waits until cond holds, failing the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// inSocket waits until a call is blocked in the socket under c.
func inSocket(t *testing.T, c *suspend.Conn) {
	t.Helper()
	eventually(t, "a call is in the socket", func() bool { return suspend.InIO(c) == 1 })
}

// parked waits until n calls are parked in c and none is in the socket.
func parked(t *testing.T, c *suspend.Conn, n int) {
	t.Helper()
	eventually(t, "calls are parked", func() bool { return suspend.InIO(c) == 0 && suspend.Parked(c) == n })
}

// await returns what ch delivers, failing the test after 5 s.
func await(t *testing.T, ch <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return", what)
		return result{}
	}
}

// stillPending fails if ch delivers within the silence period.
func stillPending(t *testing.T, ch <-chan result, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned while it should wait: n=%d %q, err=%v", what, r.n, r.data, r.err)
	case <-time.After(silence):
	}
}

// wantSilentOpen fails unless the peer receives nothing for a while and
// its connection stays open: its Read times out rather than seeing EOF.
func wantSilentOpen(t *testing.T, peer net.Conn) {
	t.Helper()
	peer.SetReadDeadline(time.Now().Add(silence))
	defer peer.SetReadDeadline(time.Time{})
	n, err := peer.Read(make([]byte, 16))
	if n != 0 {
		t.Fatalf("the peer received %d bytes", n)
	}
	wantTimeout(t, err)
}

func TestTCPFreezeAndThaw(t *testing.T) {
	c, _, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	c.Freeze()
	if suspend.InIO(c) != 0 || suspend.Parked(c) != 1 {
		t.Fatalf("after Freeze: %d calls in the socket, %d parked; want 0, 1", suspend.InIO(c), suspend.Parked(c))
	}
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	sent := writeAsync(c, "world")
	parked(t, c, 2)
	wantSilentOpen(t, peer)
	pending(t, got, "Read while frozen")
	pending(t, sent, "Write while frozen")

	c.Thaw()
	if r := await(t, got, "Read"); r.data != "hello" || r.err != nil {
		t.Fatalf("Read after Thaw = %q, %v", r.data, r.err)
	}
	if r := await(t, sent, "Write"); r.n != 5 || r.err != nil {
		t.Fatalf("Write after Thaw = %d, %v", r.n, r.err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "world" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

func TestTCPCallerDeadlineAfterThaw(t *testing.T) {
	c, _, _ := tcpPair(t)
	c.SetReadDeadline(time.Now().Add(silence))
	c.Freeze()
	c.Thaw()
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	wantTimeout(t, err)
	if time.Since(start) < silence/2 {
		t.Errorf("Read timed out after %v: the freeze's deadline was left on the socket", time.Since(start))
	}
}

func TestTCPReset(t *testing.T) {
	c, _, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	if err := c.Inject(suspend.FaultRST); err != nil {
		t.Fatal(err)
	}
	wantReset(t, await(t, got, "pending Read").err)
	_, err := c.Write([]byte("x"))
	wantReset(t, err)
	_, err = c.Read(make([]byte, 1))
	wantReset(t, err)

	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = peer.Read(make([]byte, 1))
	wantReset(t, err)
	if err := c.Close(); err != nil {
		t.Errorf("Close after a reset = %v", err)
	}
}

func TestTCPResetWhileFrozen(t *testing.T) {
	c, _, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	c.Freeze()
	parked(t, c, 1)
	if err := c.Inject(suspend.FaultRST); err != nil {
		t.Fatal(err)
	}
	// The network tore the connection: the peer sees it at once ...
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := peer.Read(make([]byte, 1))
	wantReset(t, err)
	// ... the suspended app at Thaw.
	stillPending(t, got, "Read while frozen")
	c.Thaw()
	wantReset(t, await(t, got, "Read").err)
	_, err = c.Write([]byte("x"))
	wantReset(t, err)
}

func TestTCPBlackhole(t *testing.T) {
	c, _, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	if err := c.Inject(suspend.FaultBlackhole); err != nil {
		t.Fatal(err)
	}
	parked(t, c, 1)
	if n, err := c.Write([]byte("lost")); n != 4 || err != nil {
		t.Fatalf("Write = %d, %v; want 4, nil", n, err)
	}
	wantSilentOpen(t, peer)

	// The caller's deadline ends a Read from the blackhole.
	c.SetReadDeadline(time.Now().Add(silence))
	r := await(t, got, "Read")
	if r.n != 0 {
		t.Fatalf("Read returned %q from a blackhole", r.data)
	}
	wantTimeout(t, r.err)

	// Closing the Conn closes the socket normally.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer Read after Close = %v, want EOF", err)
	}
}

func TestTCPBlackholeIgnoresPeer(t *testing.T) {
	c, _, peer := tcpPair(t)
	if err := c.Inject(suspend.FaultBlackhole); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("ignored")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(silence))
	n, err := c.Read(make([]byte, 16))
	if n != 0 {
		t.Fatalf("Read returned %d bytes from a blackhole", n)
	}
	wantTimeout(t, err)
	// The peer's connection is still open and silent.
	wantSilentOpen(t, peer)
	if _, err := peer.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	// (Closing a socket with unread data makes the kernel send a reset:
	// the test cleanup does that, which is no concern here.)
}

func TestTCPBlackholeWhileFrozen(t *testing.T) {
	c, _, peer := tcpPair(t)
	c.Freeze()
	sent := writeAsync(c, "lost")
	got := readAsync(c)
	parked(t, c, 2)
	if err := c.Inject(suspend.FaultBlackhole); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("ignored")); err != nil {
		t.Fatal(err)
	}
	pending(t, sent, "Write while frozen")
	c.SetReadDeadline(time.Now().Add(silence))
	c.Thaw()
	if r := await(t, sent, "Write"); r.n != 4 || r.err != nil {
		t.Fatalf("Write after Thaw = %d, %v; want 4, nil", r.n, r.err)
	}
	r := await(t, got, "Read")
	if r.n != 0 {
		t.Fatalf("Read returned %q from a blackhole", r.data)
	}
	wantTimeout(t, r.err)
	wantSilentOpen(t, peer)
}

func TestTCPReclaim(t *testing.T) {
	c, _, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	if err := c.Inject(suspend.FaultReclaim); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, await(t, got, "pending Read").err)
	_, err := c.Write([]byte("x"))
	wantClosed(t, err)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer Read = %v, want EOF", err)
	}
	wantClosed(t, c.Close())
}

func TestTCPReclaimWhileFrozen(t *testing.T) {
	c, _, peer := tcpPair(t)
	got := readAsync(c)
	inSocket(t, c)
	c.Freeze()
	parked(t, c, 1)
	if err := c.Inject(suspend.FaultReclaim); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer Read = %v, want EOF", err)
	}
	stillPending(t, got, "Read while frozen")
	c.Thaw()
	r := await(t, got, "Read")
	wantClosed(t, r.err)
	if errors.Is(r.err, io.EOF) {
		t.Fatal("the app saw EOF, not a closed descriptor")
	}
	_, err := c.Write([]byte("x"))
	wantClosed(t, err)
}
