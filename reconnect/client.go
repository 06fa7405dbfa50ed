package reconnect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// Defaults for the zero values of Config.
const (
	// DefaultProbeTimeout bounds the liveness probe sent on resume from a
	// suspension: a socket that does not answer <r/> in 3 s is treated as
	// dead. Long enough for a slow mobile round trip (a few hundred ms, more
	// while the radio wakes up), short enough that the user does not wait.
	DefaultProbeTimeout = 3 * time.Second
	// DefaultIdleProbe is how long an online connection may stay silent
	// before it is probed. Five minutes: a probe wakes the radio, which
	// costs battery, while read and write errors already reveal most dead
	// sockets at once; the probe only catches a silently black-holed one.
	// Servers and NATs usually keep idle TCP flows far longer than that.
	DefaultIdleProbe = 5 * time.Minute
	// DefaultQueueSize bounds the messages held while offline.
	DefaultQueueSize = 1000
)

// Errors returned by the client.
var (
	// ErrQueueFull is returned by Send when the client is offline and its
	// queue is full; the message was not taken.
	ErrQueueFull = errors.New("reconnect: outbound queue full")
	// ErrGaveUp is returned by Run when Backoff.GiveUpAfter passed without
	// a successful login.
	ErrGaveUp = errors.New("reconnect: gave up reconnecting")
	// ErrNotRunning is returned by lifecycle methods when Run is not
	// running.
	ErrNotRunning = errors.New("reconnect: client not running")
	// ErrNotOnline is returned by Probe when there is no live connection
	// to probe (logging in, paused, offline), or it went away meanwhile.
	ErrNotOnline = errors.New("reconnect: no live connection")
)

// PermanentError wraps an error that retrying cannot fix: bad credentials, an
// untrusted certificate, a conflicting login, a policy violation. Run stops
// with it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "reconnect: not retrying: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Config configures a Client. The zero value of every field except Session
// is a documented default.
type Config struct {
	// Session configures each login. Its OnEvent and Persist are replaced by
	// the client's (use Config.OnEvent and Config.Persist).
	Session session.Config
	// State is the stream-management state to start from (e.g. loaded from
	// a file); nil starts fresh.
	State *session.State
	// Persist, when set, receives a copy of the State after every change
	// worth keeping (see session.Config.Persist).
	Persist func(*session.State)
	// ProbeTimeout bounds liveness probes. Default DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// IdleProbe is the interval of liveness probes while online. Default
	// DefaultIdleProbe; negative turns idle probes off.
	IdleProbe time.Duration
	// Backoff configures the delays between login attempts.
	Backoff Backoff
	// QueueSize bounds the messages Send holds while offline. Default
	// DefaultQueueSize.
	QueueSize int
	// OnEvent receives the client's events in order, one at a time, on a
	// goroutine of the client's. It must not call the lifecycle methods
	// (Pause, Unpause, Detach, Logout) and wait for them; Send is fine.
	// Default: events are dropped.
	OnEvent func(Event)
	// Logger receives diagnostics. Default: slog.Default().
	Logger *slog.Logger
}

// conn is what the client needs of a session (a seam for tests).
type conn interface {
	Done() <-chan struct{}
	Err() error
	JID() string
	Login() session.Login
	State() *session.State
	SendMessage(ctx context.Context, m session.Message) (session.Message, error)
	Probe(ctx context.Context, timeout time.Duration) error
	Detach() error
	Close(ctx context.Context) error
	Abort()
	SetActive(active bool) error
}

type connectFunc func(ctx context.Context, cfg session.Config, st *session.State) (conn, error)

func connectSession(ctx context.Context, cfg session.Config, st *session.State) (conn, error) {
	s, err := session.Connect(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Client supervises one account's session over time. Create it with New,
// start it with Run; its other methods are safe for concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	connect connectFunc
	randn   func(int64) int64
	slept   func() time.Duration // time the machine has slept, plus a constant (wake.go)
	d       *dispatcher
	cmds    chan command
	stopped chan struct{} // closed when Run returns

	// sendMu orders Send against the flush of the offline queue.
	sendMu sync.Mutex
	// pmu orders the copies given to Config.Persist; last is the newest
	// copy of the session's State (the Outbox is added to it).
	pmu  sync.Mutex
	last *session.State

	mu     sync.Mutex
	sess   conn
	online bool
	queue  []session.Message
	// sendBound bounds a message Send takes: the last session's
	// (State.SendBound), which knows the server's own limit.
	sendBound int
	status    Status
	started   bool // Run was called
	running   bool
	inactive  bool
}

type command struct {
	kind   string // pause, unpause, detach, logout, active, probe, wake
	active bool
	reason string // wake
	ctx    context.Context
	reply  chan error
	probed chan probeResult // probe: the result, once known
}

// New returns a client for cfg. It does not connect: call Run.
func New(cfg Config) *Client {
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.IdleProbe == 0 {
		cfg.IdleProbe = DefaultIdleProbe
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(Event) {}
	}
	if cfg.State == nil {
		cfg.State = &session.State{}
	}
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		connect: connectSession,
		slept:   sleptClock(),
		cmds:    make(chan command),
		stopped: make(chan struct{}),
		// Created here, started by Run: an event of a Send before Run
		// waits for it instead of being lost, and c.d never changes.
		d: newDispatcher(cfg.OnEvent),
	}
	c.inactive = cfg.State.Inactive
	c.sendBound = cfg.State.SendBound(cfg.Session.MaxSendBytes)
	c.cfg.Session.OnEvent = c.onSessionEvent
	// The offline queue lives in the State's Outbox on disk: taken from a
	// loaded State here, merged into every copy saved from now on.
	c.queue = append([]session.Message(nil), cfg.State.Outbox...)
	cfg.State.Outbox = nil
	if cfg.Persist != nil {
		c.last = cfg.State.Clone()
		c.cfg.Session.Persist = c.save
	}
	return c
}

// save hands Config.Persist a copy of the State with the offline queue in
// its Outbox: snap, the session's newest copy, or the last one when nil
// (the queue changed). Calls are serialised, so copies are saved in order.
func (c *Client) save(snap *session.State) {
	if c.cfg.Persist == nil {
		return
	}
	c.pmu.Lock()
	defer c.pmu.Unlock()
	// The session's copy is ours already (no second copy on its hot
	// path); after it is handed on, it is only ever read, to be copied.
	out := snap
	if out == nil {
		out = c.last.Clone()
	}
	c.mu.Lock()
	out.Outbox = append([]session.Message(nil), c.queue...)
	c.mu.Unlock()
	c.last = out
	c.cfg.Persist(out)
}

// trySave is save for the client's own saves (the offline queue), made
// outside any session: a Persist that panics is recovered, as a session
// recovers it in its saves, and returned as a *session.PersistError.
func (c *Client) trySave() (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("Config.Persist panicked", slog.Any("panic", v))
			err = &session.PersistError{Value: v}
		}
	}()
	c.save(nil)
	return nil
}

func (c *Client) onSessionEvent(e session.Event) {
	ev := fromSession(e)
	if ev == nil {
		return
	}
	if _, ok := ev.(Received); ok {
		// Handled only once the application has seen it.
		c.d.emitSync(ev)
		return
	}
	c.d.emit(ev)
}

// Status returns the client's current status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Queued returns the number of messages waiting for the client to be online.
func (c *Client) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// SessionInfo describes the client's live session at one moment. It is a
// copy: the session itself stays the client's to end.
type SessionInfo struct {
	// JID is the full JID bound to the stream.
	JID string
	// Login says how the session was established.
	Login session.Login
	// State is a copy of its stream-management state.
	State *session.State
}

// SessionInfo describes the live session; ok is false when there is none.
func (c *Client) SessionInfo() (info SessionInfo, ok bool) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return SessionInfo{}, false
	}
	return SessionInfo{JID: s.JID(), Login: s.Login(), State: s.State()}, true
}

// Send sends a chat message to to. Online, it goes straight to the session
// (which keeps it until the server acknowledges it); offline, it waits in a
// bounded queue and goes out, in order, as soon as a session is up. It
// returns the message with its id, or ErrQueueFull, a
// *session.TooLargeError (session.ErrTooLarge) for a message above
// Session.MaxSendBytes, or a *session.PersistError when Config.Persist
// panicked saving it; the message is then not taken.
func (c *Client) Send(ctx context.Context, to, body string) (session.Message, error) {
	m := session.Message{ID: session.NewID(), To: to, Body: body}
	m.OriginID = m.ID
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	sess, online, bound := c.sess, c.online, c.sendBound
	c.mu.Unlock()
	if online {
		// The session checks the size itself (session.CheckSize).
		sent, err := sess.SendMessage(ctx, m)
		if err == nil {
			// The session reported it (session.Sent), in order with
			// its acknowledgement.
			return sent, nil
		}
		var pe *session.PersistError
		if errors.As(err, &pe) || errors.Is(err, session.ErrTooLarge) {
			// The same Persist would keep the queue; a message above
			// the server's own limit (or measured with the JID the
			// server bound) would fail at every flush.
			return m, err
		}
		c.log.Debug("send failed, queueing", slog.Any("err", err))
	}
	// Refused now, not queued to fail at every login: a server closes
	// the connection on a stanza above its limit.
	if err := session.CheckSize(m, c.cfg.Session.JID, bound); err != nil {
		return m, err
	}
	c.mu.Lock()
	if len(c.queue) >= c.cfg.QueueSize {
		c.mu.Unlock()
		return m, fmt.Errorf("%w (%d messages)", ErrQueueFull, c.cfg.QueueSize)
	}
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	// Saved before Send returns: a message taken survives the process.
	if err := c.trySave(); err != nil {
		// Not taken: no copy holds it. Still the last one queued
		// (sendMu is held, and the flush takes it too).
		c.mu.Lock()
		if n := len(c.queue); n > 0 && c.queue[n-1].ID == m.ID {
			c.queue = c.queue[:n-1]
		}
		c.mu.Unlock()
		return m, err
	}
	c.emit(Sent{Message: m, Queued: true})
	return m, nil
}

func (c *Client) emit(ev Event) { c.d.emit(ev) }

// do sends a command to the run loop and waits for its answer.
func (c *Client) do(cmd command) error {
	cmd.reply = make(chan error, 1)
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	ctx := cmd.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case c.cmds <- cmd:
	case <-c.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-cmd.reply
}

// Pause stops all activity: no probes, no timers that touch the socket, no
// login attempts (one under way is abandoned), until Unpause. The connection,
// if any, is left as it is. This is what a suspension means.
func (c *Client) Pause() { _ = c.do(command{kind: "pause"}) }

// Probe checks the live connection now, as the idle probe does, and
// returns how long its answer took. A connection that does not answer
// within Config.ProbeTimeout is dead: Probe returns the probe's error, and
// the client reports it (Dead) and repairs it as after any probe. Without a
// live connection it returns ErrNotOnline. A probe already under way is
// joined rather than doubled.
func (c *Client) Probe(ctx context.Context) (time.Duration, error) {
	ch := make(chan probeResult, 1)
	if err := c.do(command{kind: "probe", ctx: ctx, probed: ch}); err != nil {
		return 0, err
	}
	select {
	case r := <-ch:
		return r.took, r.err
	case <-c.stopped:
		return 0, ErrNotRunning
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Unpause ends a pause (or the hold after Detach or Logout): a connection
// still open is probed at once and repaired if dead; without one, a login
// starts at once (resuming the stream if it can).
func (c *Client) Unpause() { _ = c.do(command{kind: "unpause"}) }

// Detach ends the connection without ending the stream (session.Detach): the
// server keeps it resumable. The client stays offline until Unpause.
func (c *Client) Detach() error { return c.do(command{kind: "detach"}) }

// Logout ends the stream cleanly (session.Close), after the server has
// acknowledged what was sent (bounded by ctx). The client stays offline until
// Unpause, which then opens a fresh session.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(command{kind: "logout", ctx: ctx})
}

// SetActive tells the server whether the client is active (XEP-0352). The
// choice is kept across reconnections.
func (c *Client) SetActive(active bool) error {
	return c.do(command{kind: "active", active: active})
}

// Wake tells the client that the process may have been suspended: it was
// stopped and continued, the machine slept, or its timers fired late (see
// suspend.Detector), so the connection cannot be trusted. It does what
// Unpause does after a pause: an open connection is probed at once, bounded
// by Config.ProbeTimeout, and repaired if it is dead (status Resuming, then
// Online or Reconnecting). Without a connection, a wait between login
// attempts is cut short, and a login attempt that has run for longer than
// the probe timeout (its socket may date from before the suspension) is
// started again; its age counts the time the machine slept (Linux, macOS,
// Windows), which Go's timers do not. While paused, or held after Detach or Logout, it does
// nothing: Unpause probes anyway. reason says what was noticed; it is
// reported in a Woken event with what the client did. Wake sends nothing
// itself but the probe.
func (c *Client) Wake(ctx context.Context, reason string) error {
	return c.do(command{kind: "wake", ctx: ctx, reason: reason})
}

// WaitAcked waits until the server has acknowledged the message with id (or
// the session carrying it ends: ErrNotAcked). Messages still queued offline
// are not yet sent.
func (c *Client) WaitAcked(ctx context.Context, id string) error {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return session.ErrNotAcked
	}
	s, ok := sess.(interface {
		WaitAcked(context.Context, string) error
	})
	if !ok {
		return session.ErrNotAcked
	}
	return s.WaitAcked(ctx, id)
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	var (
		ae *session.AuthError
		ce *session.CertificateError
		te *session.TLSError
		se *session.StreamError
		pe *session.PersistError
	)
	switch {
	case errors.As(err, &pe):
		// The application's Persist panicked: it would again, at every
		// login, and nothing said would be kept.
		return true
	case errors.As(err, &ae), errors.As(err, &ce), errors.As(err, &te),
		errors.Is(err, session.ErrConfig), errors.Is(err, session.ErrLoginIncomplete),
		errors.Is(err, session.ErrNoService):
		return true
	case errors.As(err, &se) && !se.Local:
		switch se.Condition {
		case "conflict", "policy-violation", "not-authorized", "host-unknown",
			"improper-addressing", "invalid-from", "invalid-namespace",
			"unsupported-version", "unsupported-encoding", "bad-namespace-prefix":
			return true
		}
	}
	return false
}
