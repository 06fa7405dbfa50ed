package echotest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Proxy is what the proxy packages' Proxy types (faultproxy, toxic) share.
type Proxy interface {
	Addr() string
	Close() error
}

// StartProxy starts a proxy to upstream with start, and closes it at the
// end of the test, failing the test if that fails.
func StartProxy[P Proxy](t *testing.T, start func(upstream string) (P, error), upstream string) P {
	t.Helper()
	p, err := start(upstream)
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

// CheckClose checks Close on p, a proxy to an echo Server with one
// connection through it (c): Close closes c and the listener, a second
// Close is no error, and each of ops then fails with errClosed.
func CheckClose(t *testing.T, p Proxy, c net.Conn, errClosed error, ops map[string]func() error) {
	t.Helper()
	RoundTrip(t, c, "x")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := ReadErr(c, time.Second); err == nil || IsTimeout(err) {
		t.Fatalf("connection after Close: %v, want it closed", err)
	}
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c2.Close()
		t.Fatal("dial after Close succeeded")
	}
	for name, f := range ops {
		if err := f(); !errors.Is(err, errClosed) {
			t.Errorf("%s after Close: %v, want %v", name, err, errClosed)
		}
	}
}
