package session

import (
	"net"
	"runtime"
	"testing"
)

// The login's reads re-arm quick-ACK mode; the session's do not.
func TestQuickAckDuringLoginOnly(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	m := newMeteredConn(a, 1<<20)
	if m.quickAck != nil {
		t.Fatal("a pipe has no socket, yet quickAcker gave a function")
	}
	armed := 0
	m.quickAck = func() { armed++ }
	go func() {
		b.Write([]byte("features"))
		b.Write([]byte("stanza"))
	}()
	buf := make([]byte, 64)
	if _, err := m.Read(buf); err != nil {
		t.Fatal(err)
	}
	if armed != 1 {
		t.Errorf("after a login read: armed %d times, want 1", armed)
	}
	m.unlimit() // the login is over
	if _, err := m.Read(buf); err != nil {
		t.Fatal(err)
	}
	if armed != 1 {
		t.Errorf("after a session read: armed %d times, want still 1", armed)
	}
}

// A TCP connection gets quick ACKs on Linux, none elsewhere; a wrapper that
// hides the socket gets none.
func TestQuickAckerTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := quickAcker(c)
	if (q != nil) != (runtime.GOOS == "linux") {
		t.Fatalf("quickAcker on %s: %v", runtime.GOOS, q != nil)
	}
	if q != nil {
		q() // must not panic or block
	}
	if quickAcker(struct{ net.Conn }{c}) != nil {
		t.Error("a wrapper that hides the socket got quick ACKs")
	}
}
