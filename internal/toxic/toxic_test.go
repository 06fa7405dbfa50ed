package toxic_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/echotest"
	"github.com/xmppbg/xmppbg/internal/toxic"
)

// The faultproxy methods are tested in package faultproxy; these tests cover
// what toxiproxy adds behind it.

func startProxy(t *testing.T, upstream string) *toxic.Proxy {
	t.Helper()
	return echotest.StartProxy(t, toxic.Start, upstream)
}

func TestForward(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	if p.Upstream() != echo.Addr {
		t.Errorf("Upstream() = %q, want %q", p.Upstream(), echo.Addr)
	}
	c := echotest.Dial(t, p.Addr())
	echotest.RoundTrip(t, c, "<message>hello</message>")
	_ = c.Close()
	echotest.Eventually(t, "upstream to see the close", func() bool { return echo.Closed.Load() == 1 })
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d, want 1", n)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	existing := echotest.Dial(t, p.Addr())
	echotest.RoundTrip(t, existing, "warm")

	const oneWay = 100 * time.Millisecond
	if err := p.Latency(oneWay); err != nil {
		t.Fatal(err)
	}
	if d := echotest.RoundTrip(t, existing, "slow"); d < 2*oneWay || d > 2*oneWay+time.Second {
		t.Errorf("round trip on existing connection = %v, want >= %v", d, 2*oneWay)
	}
	fresh := echotest.Dial(t, p.Addr())
	if d := echotest.RoundTrip(t, fresh, "slow"); d < 2*oneWay || d > 2*oneWay+time.Second {
		t.Errorf("round trip on new connection = %v, want >= %v", d, 2*oneWay)
	}

	// Replaced, not stacked: stacking would take >= 2*(100+10) ms.
	if err := p.Latency(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := echotest.RoundTrip(t, existing, "less"); d < 20*time.Millisecond || d >= 2*oneWay {
		t.Errorf("round trip after replacing latency = %v, want in [20ms, %v)", d, 2*oneWay)
	}

	if err := p.Latency(0); err != nil {
		t.Fatal(err)
	}
	if d := echotest.RoundTrip(t, existing, "fast"); d >= 2*oneWay {
		t.Errorf("round trip after Latency(0) = %v, want < %v", d, 2*oneWay)
	}
	if err := p.Latency(-time.Second); err == nil {
		t.Error("Latency(negative) did not fail")
	}
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p := startProxy(t, echo.Addr)
	c := echotest.Dial(t, p.Addr())
	echotest.RoundTrip(t, c, "before")

	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if err := p.Blackhole(); err != nil {
		t.Fatalf("second Blackhole: %v", err)
	}
	if _, err := c.Write([]byte("into the void")); err != nil {
		t.Fatalf("write into blackhole failed: %v", err)
	}
	if err := echotest.ReadErr(c, 150*time.Millisecond); !echotest.IsTimeout(err) {
		t.Fatalf("read from blackhole: %v, want a timeout (no data, no EOF)", err)
	}
	// Still open, still silent.
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatalf("second write failed: %v", err)
	}
	if err := echotest.ReadErr(c, 100*time.Millisecond); !echotest.IsTimeout(err) {
		t.Fatalf("second read: %v, want a timeout", err)
	}
	if n := echo.Closed.Load(); n != 0 {
		t.Errorf("upstream saw %d closes during blackhole, want 0", n)
	}

	// New connections are accepted but just as silent.
	c2 := echotest.Dial(t, p.Addr())
	if _, err := c2.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := echotest.ReadErr(c2, 100*time.Millisecond); !echotest.IsTimeout(err) {
		t.Fatalf("read on new connection: %v, want a timeout", err)
	}

	// Clear: dropped bytes cannot be recovered, so toxiproxy closes the
	// blackholed connections; new ones work.
	if err := p.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := echotest.ReadErr(c, time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("blackholed connection after Clear: %v, want EOF", err)
	}
	echotest.RoundTrip(t, echotest.Dial(t, p.Addr()), "after")
}

func TestClose(t *testing.T) {
	t.Parallel()
	echo := echotest.Start(t)
	p, err := toxic.Start(echo.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := echotest.Dial(t, p.Addr())
	echotest.CheckClose(t, p, c, toxic.ErrClosed, map[string]func() error{
		"Up": p.Up, "Down": p.Down, "ResetPeer": p.ResetPeer, "Blackhole": p.Blackhole, "Clear": p.Clear,
		"Latency": func() error { return p.Latency(time.Millisecond) },
	})
}
