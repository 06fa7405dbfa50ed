package suspend_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/xmppbg/xmppbg/internal/leakcheck"
)

// TestMain fails the run when goroutines of the package or its tests
// outlive the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "xmppbg/suspend") }

// result is what a Read or Write returned.
type result struct {
	data string
	n    int
	err  error
}

// readAsync reads once from r on a new goroutine.
func readAsync(r io.Reader) <-chan result {
	ch := make(chan result, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := r.Read(buf)
		ch <- result{data: string(buf[:n]), n: n, err: err}
	}()
	return ch
}

// writeAsync writes once to w on a new goroutine.
func writeAsync(w io.Writer, s string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		n, err := w.Write([]byte(s))
		ch <- result{n: n, err: err}
	}()
	return ch
}

// pending fails the test if ch has delivered.
func pending(t *testing.T, ch <-chan result, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned while it should wait: n=%d %q, err=%v", what, r.n, r.data, r.err)
	default:
	}
}

// wantTimeout fails unless err is a timeout as a socket reports one.
func wantTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout wrapping os.ErrDeadlineExceeded", err)
	}
}

// wantReset fails unless err is a connection reset as a socket reports one.
func wantReset(t *testing.T, err error) {
	t.Helper()
	var oe *net.OpError
	if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) {
		t.Fatalf("err = %v, want a *net.OpError wrapping ECONNRESET", err)
	}
}

// wantClosed fails unless err wraps net.ErrClosed.
func wantClosed(t *testing.T, err error) {
	t.Helper()
	var oe *net.OpError
	if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) {
		t.Fatalf("err = %v, want a *net.OpError wrapping net.ErrClosed", err)
	}
}
