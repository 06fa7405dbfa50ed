package suspend_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// pipe returns the two ends of a net.Pipe, the app's wrapped. Call it inside
// a synctest bubble.
func pipe(t *testing.T) (*suspend.Conn, net.Conn) {
	a, b := net.Pipe()
	c := suspend.WrapConn(a)
	t.Cleanup(func() {
		c.Close()
		b.Close()
	})
	return c, b
}

func TestFaultNames(t *testing.T) {
	for _, f := range []suspend.Fault{suspend.FaultRST, suspend.FaultBlackhole, suspend.FaultReclaim} {
		got, err := suspend.ParseFault(strings.ToUpper(f.String()))
		if err != nil || got != f {
			t.Errorf("ParseFault(%q) = %v, %v", f, got, err)
		}
	}
	if s := suspend.FaultRST.String(); s != "rst" {
		t.Errorf("FaultRST = %q", s)
	}
	if s := suspend.Fault(0).String(); s != "Fault(0)" {
		t.Errorf("Fault(0) = %q", s)
	}
	_, err := suspend.ParseFault("drop")
	if err == nil || !strings.Contains(err.Error(), "rst, blackhole, reclaim") {
		t.Errorf("ParseFault(drop) error = %v, want one listing the faults", err)
	}
}

func TestFreezeParksPendingRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		got := readAsync(c)
		synctest.Wait()
		if suspend.InIO(c) != 1 {
			t.Fatal("the Read is not blocked in the socket")
		}

		c.Freeze()
		synctest.Wait()
		if suspend.InIO(c) != 0 || suspend.Parked(c) != 1 {
			t.Fatalf("after Freeze: %d in the socket, %d parked; want 0, 1", suspend.InIO(c), suspend.Parked(c))
		}
		pending(t, got, "Read interrupted by Freeze")

		sent := writeAsync(peer, "hello")
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, got, "Read while frozen")
		pending(t, sent, "peer's Write to a frozen conn") // a pipe has no buffer: nobody reads

		start := time.Now()
		c.Thaw()
		r := <-got
		if r.err != nil || r.data != "hello" {
			t.Fatalf("Read after Thaw = %q, %v; want hello", r.data, r.err)
		}
		if time.Since(start) != 0 {
			t.Errorf("Read returned %v after Thaw", time.Since(start))
		}
		if r := <-sent; r.err != nil {
			t.Fatal(r.err)
		}
	})
}

func TestFreezeBlocksWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		c.Freeze()
		got := readAsync(peer)
		sent := writeAsync(c, "hello")
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, sent, "Write while frozen")
		pending(t, got, "peer's Read")
		if suspend.InIO(c) != 0 {
			t.Fatal("a Write reached the socket while frozen")
		}

		c.Thaw()
		if r := <-sent; r.n != 5 || r.err != nil {
			t.Fatalf("Write after Thaw = %d, %v", r.n, r.err)
		}
		if r := <-got; r.data != "hello" {
			t.Fatalf("peer read %q, %v", r.data, r.err)
		}
	})
}

func TestFreezeInterruptsWriteAndFinishesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		sent := writeAsync(c, "hello") // blocks: the peer is not reading
		synctest.Wait()
		if suspend.InIO(c) != 1 {
			t.Fatal("the Write is not blocked in the socket")
		}
		c.Freeze()
		synctest.Wait()
		if suspend.InIO(c) != 0 || suspend.Parked(c) != 1 {
			t.Fatalf("after Freeze: %d in the socket, %d parked; want 0, 1", suspend.InIO(c), suspend.Parked(c))
		}
		got := readAsync(peer)
		synctest.Wait()
		pending(t, got, "peer's Read while frozen")
		pending(t, sent, "Write while frozen")

		c.Thaw()
		if r := <-got; r.data != "hello" {
			t.Fatalf("peer read %q, %v", r.data, r.err)
		}
		if r := <-sent; r.n != 5 || r.err != nil {
			t.Fatalf("Write = %d, %v", r.n, r.err)
		}
	})
}

func TestCallerDeadlineWhileFrozen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		start := time.Now()
		c.SetReadDeadline(start.Add(3 * time.Second))
		c.SetWriteDeadline(start.Add(4 * time.Second))
		c.Freeze()
		_, err := c.Read(make([]byte, 1))
		wantTimeout(t, err)
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Read timed out after %v, want 3s", d)
		}
		n, err := c.Write([]byte("x"))
		wantTimeout(t, err)
		if d := time.Since(start); n != 0 || d != 4*time.Second {
			t.Errorf("Write = %d after %v, want 0 after 4s", n, d)
		}
	})
}

func TestDeadlineMovedWhileParked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		start := time.Now()
		c.Freeze()
		got := readAsync(c)
		time.Sleep(time.Second)
		c.SetReadDeadline(start.Add(5 * time.Second))
		time.Sleep(time.Second)
		c.SetReadDeadline(start.Add(10 * time.Second))
		r := <-got
		wantTimeout(t, r.err)
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("Read timed out after %v, want 10s", d)
		}
	})
}

func TestCallerDeadlineRestoredAtThaw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		start := time.Now()
		c.SetReadDeadline(start.Add(10 * time.Second))
		got := readAsync(c)
		synctest.Wait()
		c.Freeze()
		time.Sleep(2 * time.Second)
		c.Thaw()
		synctest.Wait()
		if suspend.InIO(c) != 1 {
			t.Fatal("the Read did not go back to the socket after Thaw")
		}
		r := <-got
		wantTimeout(t, r.err)
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("Read timed out after %v, want 10s", d)
		}

		// Without a deadline, nothing of the freeze is left on the socket.
		c.SetReadDeadline(time.Time{})
		c.Freeze()
		c.Thaw()
		got = readAsync(c)
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, got, "Read without a deadline")
		peer.Write([]byte("x"))
		if r := <-got; r.data != "x" {
			t.Fatalf("Read = %q, %v", r.data, r.err)
		}
	})
}

func TestCloseWhileFrozen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		c.Freeze()
		got := readAsync(c)
		sent := writeAsync(c, "x")
		synctest.Wait()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		wantClosed(t, (<-got).err)
		wantClosed(t, (<-sent).err)
		if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer Read = %v, want EOF", err)
		}
		_, err := c.Read(make([]byte, 1))
		wantClosed(t, err)
		wantClosed(t, c.Close())
	})
}

// racyConn is a socket whose blocked Read, interrupted by a deadline in the
// past, returns data or an error anyway: what happens when data arrives as
// a freeze cuts a Read.
type racyConn struct {
	net.Conn // unused: methods not defined here panic
	data     string
	err      error

	once     sync.Once
	deadline chan struct{} // closed by a deadline in the past
	closed   chan struct{}
	reads    int
}

func newRacyConn(data string, err error) *racyConn {
	return &racyConn{data: data, err: err, deadline: make(chan struct{}), closed: make(chan struct{})}
}

func (c *racyConn) Read(p []byte) (int, error) {
	c.reads++
	if c.reads == 1 {
		<-c.deadline
		return copy(p, c.data), c.err
	}
	<-c.closed
	return 0, net.ErrClosed
}

func (c *racyConn) SetDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		c.once.Do(func() { close(c.deadline) })
	}
	return nil
}
func (c *racyConn) SetReadDeadline(time.Time) error  { return nil }
func (c *racyConn) SetWriteDeadline(time.Time) error { return nil }
func (c *racyConn) LocalAddr() net.Addr              { return nil }
func (c *racyConn) RemoteAddr() net.Addr             { return nil }
func (c *racyConn) Close() error                     { close(c.closed); return nil }

func TestDataCutByFreezeIsHeldUntilThaw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := suspend.WrapConn(newRacyConn("late", nil))
		defer c.Close()
		got := readAsync(c)
		synctest.Wait()
		c.Freeze()
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, got, "Read while frozen")
		c.Thaw()
		if r := <-got; r.data != "late" || r.err != nil {
			t.Fatalf("Read after Thaw = %q, %v; want late", r.data, r.err)
		}
	})
}

func TestHeldDataOutlivesCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := suspend.WrapConn(newRacyConn("late", io.EOF))
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(time.Minute))
		got := readAsync(c)
		synctest.Wait()
		c.Freeze()
		wantTimeout(t, (<-got).err)
		c.SetReadDeadline(time.Time{})
		c.Thaw()
		buf := make([]byte, 2)
		var read string
		for {
			n, err := c.Read(buf)
			read += string(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if read != "late" {
			t.Fatalf("read %q, want late then EOF", read)
		}
	})
}

func TestResetOverPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		got := readAsync(c)
		synctest.Wait()
		if err := c.Inject(suspend.FaultRST); err != nil {
			t.Fatal(err)
		}
		wantReset(t, (<-got).err)
		_, err := c.Write([]byte("x"))
		wantReset(t, err)
		if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer Read = %v, want EOF (a pipe cannot reset)", err)
		}
		if f := c.Fault(); f != suspend.FaultRST {
			t.Errorf("Fault() = %v", f)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close after a reset = %v, want nil", err)
		}
	})
}

func TestFaultsWhileFrozenSeenAtThaw(t *testing.T) {
	for _, tc := range []struct {
		fault     suspend.Fault
		wantRead  func(*testing.T, error)
		wantWrite func(*testing.T, result)
	}{
		{suspend.FaultRST, wantReset, func(t *testing.T, r result) { wantReset(t, r.err) }},
		{suspend.FaultReclaim, wantClosed, func(t *testing.T, r result) { wantClosed(t, r.err) }},
		{suspend.FaultBlackhole, wantTimeout, func(t *testing.T, r result) {
			if r.n != 1 || r.err != nil {
				t.Fatalf("Write into a blackhole = %d, %v; want 1, nil", r.n, r.err)
			}
		}},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, _ := pipe(t)
				c.Freeze()
				got := readAsync(c)
				sent := writeAsync(c, "x")
				synctest.Wait()
				if err := c.Inject(tc.fault); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Hour)
				synctest.Wait()
				pending(t, got, "Read while frozen")
				pending(t, sent, "Write while frozen")
				thawed := time.Now()
				c.SetReadDeadline(thawed.Add(time.Second)) // ends a Read into the blackhole
				c.Thaw()
				tc.wantWrite(t, <-sent)
				tc.wantRead(t, (<-got).err)
				if tc.fault != suspend.FaultBlackhole && time.Since(thawed) != 0 {
					t.Errorf("the fault was seen %v after Thaw", time.Since(thawed))
				}
			})
		})
	}
}

func TestBlackholeOverPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		got := readAsync(c)
		synctest.Wait()
		if err := c.Inject(suspend.FaultBlackhole); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if suspend.InIO(c) != 0 {
			t.Fatal("a Read is still in the socket after the blackhole")
		}
		if n, err := c.Write([]byte("lost")); n != 4 || err != nil {
			t.Fatalf("Write = %d, %v; want 4, nil", n, err)
		}
		peerGot := readAsync(peer)
		peerSent := writeAsync(peer, "ignored")
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, peerGot, "peer's Read")
		pending(t, peerSent, "peer's Write")
		pending(t, got, "Read from a blackhole")

		start := time.Now()
		c.SetReadDeadline(start.Add(time.Second))
		wantTimeout(t, (<-got).err)
		if d := time.Since(start); d != time.Second {
			t.Errorf("Read timed out after %v, want 1s", d)
		}

		// Closing the Conn closes the socket.
		c.Close()
		if r := <-peerGot; r.err != io.EOF {
			t.Fatalf("peer Read = %q, %v; want EOF", r.data, r.err)
		}
		<-peerSent
	})
}

func TestInjectErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		if err := c.Inject(0); err == nil {
			t.Error("Inject(0) succeeded")
		}
		if err := c.Inject(suspend.FaultBlackhole); err != nil {
			t.Fatal(err)
		}
		if err := c.Inject(suspend.FaultBlackhole); !errors.Is(err, suspend.ErrFaulted) {
			t.Errorf("second blackhole: %v, want ErrFaulted", err)
		}
		// A silent connection can still be reclaimed.
		if err := c.Inject(suspend.FaultReclaim); err != nil {
			t.Fatal(err)
		}
		if err := c.Inject(suspend.FaultRST); !errors.Is(err, suspend.ErrFaulted) {
			t.Errorf("reset after reclaim: %v, want ErrFaulted", err)
		}
		if f := c.Fault(); f != suspend.FaultReclaim {
			t.Errorf("Fault() = %v", f)
		}
		wantClosed(t, c.Close())
		if err := c.Inject(suspend.FaultRST); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Inject after Close: %v", err)
		}
	})
}

func TestConcurrentWritesNotInterleavedByFreeze(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		first := writeAsync(c, "aaaa")
		synctest.Wait()
		// The peer takes two bytes of the first Write, then the app freezes.
		buf := make([]byte, 2)
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		c.Freeze()
		second := writeAsync(c, "bbbb")
		synctest.Wait()
		c.Thaw()
		rest := make([]byte, 6)
		if _, err := io.ReadFull(peer, rest); err != nil {
			t.Fatal(err)
		}
		if got := string(buf) + string(rest); got != "aaaabbbb" {
			t.Fatalf("peer read %q, want aaaabbbb", got)
		}
		<-first
		<-second
	})
}
