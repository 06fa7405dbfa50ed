package suspend

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fault is a way a socket dies while an app is suspended.
type Fault int

const (
	// FaultRST is a connection torn by the network: both ends see a reset.
	FaultRST Fault = iota + 1
	// FaultBlackhole drops everything silently both ways; the socket still
	// looks open at both ends.
	FaultBlackhole
	// FaultReclaim is the descriptor closed under the app, as the OS does
	// to a suspended app.
	FaultReclaim
)

var faultNames = [...]string{FaultRST: "rst", FaultBlackhole: "blackhole", FaultReclaim: "reclaim"}

// String returns the fault's name: "rst", "blackhole" or "reclaim".
func (f Fault) String() string {
	if f >= FaultRST && f <= FaultReclaim {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// ParseFault returns the fault with the given name (see Fault.String),
// ignoring case.
func ParseFault(s string) (Fault, error) {
	for f := FaultRST; f <= FaultReclaim; f++ {
		if strings.EqualFold(strings.TrimSpace(s), f.String()) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("suspend: unknown fault %q (valid: rst, blackhole, reclaim)", s)
}

// ErrFaulted is returned by Conn.Inject when the connection already has a
// fault that cannot be replaced.
var ErrFaulted = errors.New("suspend: connection already faulted")

// longAgo is a deadline in the past: setting it interrupts a blocked Read or
// Write on the socket at once.
var longAgo = time.Unix(1, 0)

// Conn is a net.Conn that a simulated app lifecycle controls: it can be
// frozen, so that no I/O reaches the socket while the app is suspended, and
// a Fault can be injected into it. Create one with WrapConn; its methods are
// safe for concurrent use.
//
// The caller's deadlines keep their meaning throughout: a Read or Write
// parked by a freeze or a blackhole returns a timeout error (wrapping
// os.ErrDeadlineExceeded) when the caller's deadline passes.
type Conn struct {
	nc           net.Conn
	laddr, raddr net.Addr
	// rsem and wsem serialise Reads and Writes as a socket does, so that a
	// Write cut in two by a freeze is not interleaved with another. They are
	// channels so that waiting on them is durably blocking under synctest.
	rsem, wsem chan struct{}
	done       chan struct{} // closed by Close

	mu      sync.Mutex
	frozen  bool
	freezes uint64 // counts Freeze calls: a call sees it was interrupted
	fault   Fault
	closed  bool
	changed chan struct{} // closed and replaced when parked calls must look again
	rdl     time.Time     // the caller's read deadline
	wdl     time.Time     // the caller's write deadline
	held    []byte        // data a Read took from the socket as a Freeze cut it
	heldErr error         // an error the socket gave as a Freeze cut a Read
	inIO    int           // calls now inside the socket
	idle    chan struct{} // if not nil, closed when inIO falls to 0
	parked  int           // calls now parked in the wrapper (for tests)
	onClose func()        // set by App.Dial: stop tracking the conn
}

// WrapConn returns a Conn that passes I/O to c until it is frozen or
// faulted. From then on, c must only be used through the Conn. c must honour
// deadlines, as the standard library's connections do: a freeze interrupts
// a blocked call by setting one in the past.
func WrapConn(c net.Conn) *Conn {
	return &Conn{
		nc:      c,
		laddr:   c.LocalAddr(),
		raddr:   c.RemoteAddr(),
		rsem:    make(chan struct{}, 1),
		wsem:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
}

// Freeze suspends the connection: no Read or Write reaches the socket until
// Thaw. A call blocked in the socket is interrupted (by a deadline in the
// past) and parked, without an error; Freeze returns once it has left the
// socket. Reads and Writes wait until Thaw, Close, or the caller's deadline.
// Data the peer sends meanwhile stays in the kernel. Freezing a frozen Conn
// does nothing.
func (c *Conn) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return
	}
	c.frozen = true
	c.freezes++
	if c.socketOpen() && c.fault == 0 {
		// Wake calls blocked in the socket; they see c.freezes moved.
		_ = c.nc.SetDeadline(longAgo)
	}
	c.broadcast()
	c.waitIdle(func() bool { return c.frozen })
}

// Thaw ends a freeze: the caller's deadlines are set on the socket again and
// parked calls go on, or return the error of a fault injected meanwhile.
// Thawing a Conn that is not frozen does nothing.
func (c *Conn) Thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		return
	}
	c.frozen = false
	if c.socketOpen() && c.fault == 0 {
		_ = c.nc.SetReadDeadline(c.rdl)
		_ = c.nc.SetWriteDeadline(c.wdl)
	}
	c.broadcast()
}

// Inject applies a fault to the connection, at once, frozen or not:
//
//   - FaultRST closes the socket abortively (SO_LINGER 0, so a TCP peer
//     receives a reset); the Conn's Reads and Writes then fail with an error
//     wrapping syscall.ECONNRESET.
//   - FaultBlackhole leaves the socket open and untouched: Writes report
//     success and send nothing, Reads return nothing (they wait for Close or
//     the caller's deadline).
//   - FaultReclaim closes the socket normally (the peer reads EOF); the
//     Conn's calls then fail with an error wrapping net.ErrClosed.
//
// Calls parked by a freeze see the fault at Thaw. A blackholed Conn can still
// be reset or reclaimed; any other second fault is ErrFaulted.
func (c *Conn) Inject(f Fault) error {
	if f < FaultRST || f > FaultReclaim {
		return fmt.Errorf("suspend: invalid fault %d", int(f))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("suspend: inject %s: %w", f, net.ErrClosed)
	}
	if c.fault != 0 && (c.fault != FaultBlackhole || f == FaultBlackhole) {
		prev := c.fault
		c.mu.Unlock()
		return fmt.Errorf("%w: %s (then %s)", ErrFaulted, prev, f)
	}
	c.fault = f
	c.held, c.heldErr = nil, nil
	if f == FaultBlackhole {
		// Wake calls blocked in the socket; from now on nothing touches it.
		_ = c.nc.SetDeadline(longAgo)
	}
	c.broadcast()
	if f == FaultBlackhole {
		c.waitIdle(func() bool { return c.fault == FaultBlackhole })
	}
	c.mu.Unlock()

	// The socket is closed outside the lock: calls blocked in it return and
	// take the lock to learn what happened.
	switch f {
	case FaultRST:
		if l, ok := c.nc.(interface{ SetLinger(sec int) error }); ok {
			_ = l.SetLinger(0)
		}
		_ = c.nc.Close()
	case FaultReclaim:
		_ = c.nc.Close()
	}
	return nil
}

// Fault returns the fault injected into the connection, or 0 if none.
func (c *Conn) Fault() Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

// Read reads from the socket, unless the Conn is frozen (it waits for Thaw),
// faulted or closed.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.acquire(c.rsem) {
		return 0, c.opError("read", net.ErrClosed)
	}
	defer func() { <-c.rsem }()

	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if _, err := c.gate("read"); err != nil {
			return 0, err
		}
		if len(c.held) > 0 {
			n := copy(p, c.held)
			c.held = c.held[n:]
			return n, nil
		}
		if err := c.heldErr; err != nil {
			c.heldErr = nil
			return 0, err
		}

		freezes := c.freezes
		c.inIO++
		c.mu.Unlock()
		n, err := c.nc.Read(p)
		c.mu.Lock()
		c.leave()
		if c.fault != 0 || c.closed {
			continue // the gate reports it
		}
		if freezes == c.freezes {
			return n, err
		}
		// A Freeze cut this Read: keep what the socket did give for
		// after Thaw, and try again (the gate waits for Thaw).
		c.held = append(c.held, p[:n]...)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			c.heldErr = err
		}
	}
}

// Write writes to the socket, unless the Conn is frozen (it waits for Thaw),
// faulted or closed. A Write cut by a freeze writes the rest after Thaw.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.acquire(c.wsem) {
		return 0, c.opError("write", net.ErrClosed)
	}
	defer func() { <-c.wsem }()

	c.mu.Lock()
	defer c.mu.Unlock()
	written := 0
	var socketErr error // a real error the socket gave as a Freeze cut the Write
	for {
		discard, err := c.gate("write")
		switch {
		case err != nil:
			return written, err
		case discard:
			return len(p), nil
		case socketErr != nil:
			return written, socketErr
		}

		freezes := c.freezes
		c.inIO++
		c.mu.Unlock()
		n, err := c.nc.Write(p[written:])
		c.mu.Lock()
		c.leave()
		written += n
		if c.fault != 0 || c.closed {
			continue // the gate reports it
		}
		if freezes == c.freezes || err == nil {
			return written, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			socketErr = err
		}
	}
}

// gate waits, with c.mu held (and released while it waits), until a call
// may go to the socket. It returns the error the call must return instead,
// or discard for a Write into a blackhole.
func (c *Conn) gate(op string) (discard bool, err error) {
	for {
		dl := c.rdl
		if op == "write" {
			dl = c.wdl
		}
		switch {
		case c.closed:
			return false, c.opError(op, net.ErrClosed)
		case !dl.IsZero() && !time.Now().Before(dl):
			return false, c.opError(op, os.ErrDeadlineExceeded)
		case c.frozen:
			// Parked until Thaw.
		case c.fault == FaultRST:
			return false, c.opError(op, os.NewSyscallError(op, syscall.ECONNRESET))
		case c.fault == FaultReclaim:
			return false, c.opError(op, net.ErrClosed)
		case c.fault == FaultBlackhole && op == "write":
			return true, nil
		case c.fault == FaultBlackhole:
			// A Read into a blackhole waits for Close or its deadline.
		default:
			return false, nil
		}

		changed := c.changed
		var timer *time.Timer
		var expired <-chan time.Time
		if !dl.IsZero() {
			timer = time.NewTimer(time.Until(dl))
			expired = timer.C
		}
		c.parked++
		c.mu.Unlock()
		select {
		case <-changed:
		case <-expired:
		}
		c.mu.Lock()
		c.parked--
		if timer != nil {
			timer.Stop()
		}
	}
}

// leave counts a call out of the socket; c.mu must be held.
func (c *Conn) leave() {
	c.inIO--
	if c.inIO == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// waitIdle waits, with c.mu held (and released while it waits), until no
// call is in the socket, or until cond no longer holds.
func (c *Conn) waitIdle(cond func() bool) {
	for c.inIO > 0 && cond() {
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		idle := c.idle
		c.mu.Unlock()
		<-idle
		c.mu.Lock()
	}
}

// acquire takes sem, unless the Conn is closed first.
func (c *Conn) acquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-c.done:
		return false
	}
}

// broadcast wakes parked calls; c.mu must be held.
func (c *Conn) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// socketOpen reports whether the socket is still open; c.mu must be held.
func (c *Conn) socketOpen() bool {
	return !c.closed && c.fault != FaultRST && c.fault != FaultReclaim
}

// opError returns err as the socket would: in a *net.OpError.
func (c *Conn) opError(op string, err error) error {
	network := ""
	if c.laddr != nil {
		network = c.laddr.Network()
	}
	return &net.OpError{Op: op, Net: network, Source: c.laddr, Addr: c.raddr, Err: err}
}

// Close closes the Conn and its socket; calls parked or blocked in it return
// errors wrapping net.ErrClosed. A reset socket is already closed (Close
// returns nil); a reclaimed one was closed under the app, so Close returns an
// error wrapping net.ErrClosed, as closing a dead descriptor does.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	fault := c.fault
	c.held, c.heldErr = nil, nil
	close(c.done)
	c.broadcast()
	onClose := c.onClose
	c.mu.Unlock()

	var err error
	switch fault {
	case FaultRST:
	case FaultReclaim:
		err = c.opError("close", net.ErrClosed)
	default:
		err = c.nc.Close()
	}
	if onClose != nil {
		onClose()
	}
	return err
}

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the socket's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines, as for a net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	return c.setDeadline(t, true, true)
}

// SetReadDeadline sets the read deadline, as for a net.Conn. It also bounds
// a Read parked by a freeze or a blackhole.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(t, true, false)
}

// SetWriteDeadline sets the write deadline, as for a net.Conn. It also
// bounds a Write parked by a freeze.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(t, false, true)
}

func (c *Conn) setDeadline(t time.Time, read, write bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("set", net.ErrClosed)
	}
	if read {
		c.rdl = t
	}
	if write {
		c.wdl = t
	}
	var err error
	if !c.frozen && c.fault == 0 {
		// Only a live socket carries the caller's deadlines; Thaw sets them.
		switch {
		case read && write:
			err = c.nc.SetDeadline(t)
		case read:
			err = c.nc.SetReadDeadline(t)
		default:
			err = c.nc.SetWriteDeadline(t)
		}
	}
	c.broadcast()
	return err
}
