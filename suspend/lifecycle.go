package suspend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Supervisor is what the lifecycle drives.
type Supervisor interface {
	// SetActive tells the server whether the client is active (XEP-0352 CSI).
	SetActive(active bool) error
	// Detach ends the connection without ending the stream (a last <a/>,
	// then TCP close), so the server keeps the stream resumable.
	Detach() error
	// Logout ends the stream cleanly; resuming later means a fresh session.
	Logout(ctx context.Context) error
	// Pause stops all activity: no probes, no timers that touch the socket,
	// no reconnect attempts, until Unpause.
	Pause()
	// Unpause resumes activity; the supervisor probes the connection at once
	// and repairs it if dead.
	Unpause()
}

// State is where the app is in its lifecycle.
type State int

const (
	// Active is an app in the foreground.
	Active State = iota + 1
	// Background is an app in the background, running a background task
	// until its window ends.
	Background
	// Suspended is an app the OS has suspended: it runs no code and does no
	// I/O.
	Suspended
)

var stateNames = [...]string{Active: "active", Background: "background", Suspended: "suspended"}

// String returns "active", "background" or "suspended".
func (s State) String() string {
	if s >= Active && s <= Suspended {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Policy is what the app does with its connection when it is about to be
// suspended.
type Policy int

const (
	// PolicyDetach detaches the stream (Supervisor.Detach): the connection
	// is closed, the server keeps the stream, and Resume resumes it. It is
	// the default (the zero value).
	PolicyDetach Policy = iota
	// PolicyHold leaves the connection open and hopes it survives the
	// suspension.
	PolicyHold
	// PolicyClose logs out (Supervisor.Logout): Resume opens a fresh
	// session.
	PolicyClose
)

var policyNames = [...]string{PolicyDetach: "detach", PolicyHold: "hold", PolicyClose: "close"}

// String returns "hold", "detach" or "close".
func (p Policy) String() string {
	if p >= PolicyDetach && p <= PolicyClose {
		return policyNames[p]
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy returns the policy with the given name (see Policy.String),
// ignoring case.
func ParsePolicy(s string) (Policy, error) {
	for p := PolicyDetach; p <= PolicyClose; p++ {
		if strings.EqualFold(strings.TrimSpace(s), p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("suspend: unknown policy %q (valid: hold, detach, close)", s)
}

// DefaultLogoutTimeout bounds Supervisor.Logout under PolicyClose.
const DefaultLogoutTimeout = 5 * time.Second

// Options configure an App. The zero value is ready to use.
type Options struct {
	// Policy runs when the app is about to be suspended. Default
	// PolicyDetach.
	Policy Policy
	// LogoutTimeout bounds Supervisor.Logout under PolicyClose. Default
	// DefaultLogoutTimeout.
	LogoutTimeout time.Duration
	// OnEvent receives lifecycle events in order, one at a time, without
	// the App's locks held: it may call the App's methods. An event may be
	// delivered on another goroutine than the one whose call caused it,
	// after that call has returned. Default: events are dropped.
	OnEvent func(Event)
	// Logger receives diagnostics. Default: nothing is logged.
	Logger *slog.Logger
}

// Event is a lifecycle event: StateChanged, WindowExpired, PolicyRan,
// CSISent or FaultInjected.
type Event interface{ event() }

// StateChanged is a change of state.
type StateChanged struct {
	From, To State
	At       time.Time
}

// WindowExpired says that the background window ended before the app ended
// its task; the expiration handler runs next.
type WindowExpired struct {
	Window time.Duration
}

// PolicyRan says that the policy ran before a suspension, and how it went.
// An error does not stop the suspension.
type PolicyRan struct {
	Policy Policy
	Err    error
}

// CSISent says that the app told the supervisor it is active or not
// (Supervisor.SetActive), and how it went. An error changes nothing else.
type CSISent struct {
	Active bool
	Err    error
}

// FaultInjected says that a fault was applied to the app's connection.
type FaultInjected struct {
	Fault Fault
}

func (StateChanged) event()  {}
func (WindowExpired) event() {}
func (PolicyRan) event()     {}
func (CSISent) event()       {}
func (FaultInjected) event() {}

// ErrTransition is wrapped by the errors of lifecycle calls made in the wrong
// state.
var ErrTransition = errors.New("suspend: invalid transition")

// ErrNoConn is returned by App.Inject when the app has no connection.
var ErrNoConn = errors.New("suspend: no connection")

// ErrSuspended is returned by the App's dialer while the app is suspended: a
// suspended app does no I/O.
var ErrSuspended = errors.New("suspend: app is suspended")

// App is a simulated mobile app that holds a connection through a
// Supervisor. Create one with New. Its methods are safe for concurrent use;
// lifecycle changes happen one at a time.
type App struct {
	sup     Supervisor
	policy  Policy
	logout  time.Duration
	onEvent func(Event)
	log     *slog.Logger
	// turn serialises lifecycle changes, which call the supervisor. A
	// channel rather than a mutex, so that waiting for it is durably
	// blocking under synctest.
	turn chan struct{}

	mu         sync.Mutex
	state      State
	window     *time.Timer // the background window, while in Background
	gen        uint64      // counts changes out of Active and Background
	frozen     bool        // the conns are frozen
	conns      []*Conn     // live conns, oldest first
	events     []Event     // waiting to be delivered
	delivering bool        // some goroutine is delivering events
}

// New returns an Active app that drives sup. It panics if sup is nil or
// opts.Policy is not a Policy.
func New(sup Supervisor, opts Options) *App {
	if sup == nil {
		panic("suspend: nil Supervisor")
	}
	if opts.Policy < PolicyDetach || opts.Policy > PolicyClose {
		panic("suspend: invalid policy " + opts.Policy.String())
	}
	a := &App{
		sup:     sup,
		policy:  opts.Policy,
		logout:  opts.LogoutTimeout,
		onEvent: opts.OnEvent,
		log:     opts.Logger,
		turn:    make(chan struct{}, 1),
		state:   Active,
	}
	if a.logout <= 0 {
		a.logout = DefaultLogoutTimeout
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// State returns the app's state.
func (a *App) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// DialFunc dials a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial wraps a dial function: every connection it returns is wrapped in a
// *Conn and tracked as the app's current connection (the latest one not
// closed), which Inject faults and a suspension freezes. Pass it as the
// supervisor's dialer. While the app is suspended it dials nothing and
// returns an error wrapping ErrSuspended; a connection that completes after
// the suspension began is returned frozen.
func (a *App) Dial(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		a.mu.Lock()
		frozen := a.frozen
		a.mu.Unlock()
		if frozen {
			return nil, &net.OpError{Op: "dial", Net: network, Err: ErrSuspended}
		}
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := WrapConn(nc)
		c.onClose = func() { a.untrack(c) }
		a.mu.Lock()
		a.conns = append(a.conns, c)
		if a.frozen {
			c.Freeze() // returns at once: c has no calls yet
		}
		a.mu.Unlock()
		a.log.Debug("suspend: connection tracked", "local", c.LocalAddr(), "remote", c.RemoteAddr())
		return c, nil
	}
}

// untrack forgets a closed conn.
func (a *App) untrack(c *Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := slices.Index(a.conns, c); i >= 0 {
		a.conns = slices.Delete(a.conns, i, i+1)
	}
}

// BeginBackgroundTask moves the app from Active to Background: it tells the
// supervisor the app is inactive (SetActive(false)) and starts a background
// window. If the window ends first, expire (the expiration handler; it may be
// nil) runs, then the policy, and the app is suspended. EndBackgroundTask
// ends the window early; Resume cancels it.
func (a *App) BeginBackgroundTask(window time.Duration, expire func()) error {
	if window < 0 {
		return fmt.Errorf("suspend: negative background window %v", window)
	}
	a.turn <- struct{}{}
	defer a.endTurn()
	a.mu.Lock()
	if a.state != Active {
		defer a.mu.Unlock()
		return a.transitionError("BeginBackgroundTask", Active)
	}
	a.gen++
	gen := a.gen
	a.window = time.AfterFunc(window, func() { a.expired(gen, window, expire) })
	a.setStateLocked(Background)
	a.mu.Unlock()
	a.log.Debug("suspend: background task begins", "window", window)
	a.setActive(false)
	return nil
}

// expired runs when the background window of generation gen ends.
func (a *App) expired(gen uint64, window time.Duration, expire func()) {
	a.mu.Lock()
	if a.gen != gen || a.state != Background {
		a.mu.Unlock()
		return
	}
	a.queueLocked(WindowExpired{Window: window})
	a.mu.Unlock()
	a.flush()
	a.log.Debug("suspend: background window expired", "window", window)

	// The handler runs outside the turn: it may end the task itself.
	if expire != nil {
		expire()
	}

	a.turn <- struct{}{}
	defer a.endTurn()
	a.mu.Lock()
	current := a.gen == gen && a.state == Background
	a.mu.Unlock()
	if current {
		a.suspend()
	}
}

// EndBackgroundTask ends the background task before its window: the policy
// runs and the app is suspended now. The expiration handler does not run.
func (a *App) EndBackgroundTask() error {
	a.turn <- struct{}{}
	defer a.endTurn()
	if err := a.want("EndBackgroundTask", Background); err != nil {
		return err
	}
	a.suspend()
	return nil
}

// Suspend suspends the app now, from Background (as EndBackgroundTask) or
// from Active (as a background window of length zero without an expiration
// handler: SetActive(false), the policy, the suspension).
func (a *App) Suspend() error {
	a.turn <- struct{}{}
	defer a.endTurn()
	if err := a.want("Suspend", Active, Background); err != nil {
		return err
	}
	a.suspend()
	return nil
}

// suspend runs the policy, pauses the supervisor and freezes the conns; the
// caller has the turn and the app is Active or Background.
func (a *App) suspend() {
	a.mu.Lock()
	if a.window != nil {
		a.window.Stop()
		a.window = nil
	}
	a.gen++
	from := a.state
	if from == Active {
		a.setStateLocked(Background)
	}
	a.mu.Unlock()
	if from == Active {
		a.setActive(false)
	}

	err := a.runPolicy()
	a.queue(PolicyRan{Policy: a.policy, Err: err})
	if err != nil {
		a.log.Warn("suspend: policy failed", "policy", a.policy, "err", err)
	}
	a.sup.Pause()

	// New conns are frozen by Dial from now on; Freeze waits for calls to
	// leave the socket, so it runs without a.mu.
	a.mu.Lock()
	a.frozen = true
	conns := slices.Clone(a.conns)
	a.mu.Unlock()
	for _, c := range conns {
		c.Freeze()
	}
	a.mu.Lock()
	a.setStateLocked(Suspended)
	a.mu.Unlock()
}

func (a *App) runPolicy() error {
	a.log.Debug("suspend: policy runs", "policy", a.policy)
	switch a.policy {
	case PolicyDetach:
		return a.sup.Detach()
	case PolicyClose:
		ctx, cancel := context.WithTimeout(context.Background(), a.logout)
		defer cancel()
		return a.sup.Logout(ctx)
	}
	return nil
}

// Resume brings the app back to Active. From Suspended it thaws the conns,
// unpauses the supervisor (which probes the connection and repairs it if
// dead), then calls SetActive(true). From Background it cancels the window,
// so that no policy runs, and calls SetActive(true).
//
// SetActive(true) is called whether or not a connection is up: the
// supervisor keeps the choice for the next session (see CSISent).
func (a *App) Resume() error {
	a.turn <- struct{}{}
	defer a.endTurn()
	a.mu.Lock()
	switch a.state {
	case Background:
		if a.window != nil {
			a.window.Stop()
			a.window = nil
		}
		a.gen++
		a.setStateLocked(Active)
		a.mu.Unlock()
	case Suspended:
		a.frozen = false
		for _, c := range a.conns {
			c.Thaw()
		}
		a.mu.Unlock()
		a.sup.Unpause()
		a.mu.Lock()
		a.setStateLocked(Active)
		a.mu.Unlock()
	default:
		defer a.mu.Unlock()
		return a.transitionError("Resume", Background, Suspended)
	}
	a.setActive(true)
	return nil
}

// Inject applies a fault to the app's current connection (see Conn.Inject),
// whatever the app's state.
func (a *App) Inject(f Fault) error {
	a.mu.Lock()
	var c *Conn
	if n := len(a.conns); n > 0 {
		c = a.conns[n-1]
	}
	a.mu.Unlock()
	if c == nil {
		return fmt.Errorf("suspend: inject %s: %w", f, ErrNoConn)
	}
	if err := c.Inject(f); err != nil {
		return err
	}
	a.log.Debug("suspend: fault injected", "fault", f)
	a.queue(FaultInjected{Fault: f})
	a.flush()
	return nil
}

// want returns an error unless the app is in one of the states.
func (a *App) want(op string, states ...State) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range states {
		if a.state == s {
			return nil
		}
	}
	return a.transitionError(op, states...)
}

func (a *App) transitionError(op string, want ...State) error {
	names := make([]string, len(want))
	for i, s := range want {
		names[i] = s.String()
	}
	return fmt.Errorf("%w: %s while %s (want %s)",
		ErrTransition, op, a.state, strings.Join(names, " or "))
}

func (a *App) setActive(active bool) {
	err := a.sup.SetActive(active)
	if err != nil {
		a.log.Warn("suspend: SetActive failed", "active", active, "err", err)
	}
	a.queue(CSISent{Active: active, Err: err})
}

// setStateLocked changes the state; a.mu must be held.
func (a *App) setStateLocked(to State) {
	from := a.state
	a.state = to
	a.queueLocked(StateChanged{From: from, To: to, At: time.Now()})
	a.log.Debug("suspend: state", "from", from, "to", to)
}

// endTurn gives the turn back and delivers the events queued meanwhile.
func (a *App) endTurn() {
	<-a.turn
	a.flush()
}

func (a *App) queue(e Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queueLocked(e)
}

func (a *App) queueLocked(e Event) {
	if a.onEvent != nil {
		a.events = append(a.events, e)
	}
}

// flush delivers the queued events, unless another goroutine is doing so
// already (it will deliver them): events go out in order, one at a time, and
// a callback may call the App's methods.
func (a *App) flush() {
	a.mu.Lock()
	if a.delivering {
		a.mu.Unlock()
		return
	}
	a.delivering = true
	for len(a.events) > 0 {
		e := a.events[0]
		a.events = a.events[1:]
		a.mu.Unlock()
		a.onEvent(e)
		a.mu.Lock()
	}
	a.delivering = false
	a.events = nil
	a.mu.Unlock()
}
