// Package driver is the application layer that the chat command and the
// scenario runner share: one account's supervised session (package reconnect)
// inside a simulated app lifecycle (package suspend), driven by the chat
// commands (/to, /msg, /bg, /suspend, /resume, /tear, /status), with the
// events of both merged into one ordered stream of typed Event values, and
// the one list of the messages sent and not yet acknowledged.
//
// It lives under internal/ because it is the command-line tool's glue, not
// library API.
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// DefaultBgWindow is the background-task window /bg uses without a duration:
// about what iOS grants.
const DefaultBgWindow = 30 * time.Second

// Config configures a Driver.
type Config struct {
	// Session is the account: JID, password, address, TLS.
	Session session.Config
	// Policy runs when the background window ends. Default detach.
	Policy suspend.Policy
	// BgWindow is /bg's default window. Default DefaultBgWindow.
	BgWindow time.Duration
	// ProbeTimeout bounds the probe on resume. Default
	// reconnect.DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// IdleProbe is the idle probe interval (reconnect.Config.IdleProbe).
	IdleProbe time.Duration
	// Backoff is the retry schedule.
	Backoff reconnect.Backoff
	// StateFile, when set, keeps the stream-management state in that file
	// (mode 0600), written on every change, so that another process can
	// resume the stream.
	StateFile string
	// Peer is the initial recipient of plain lines (see /to).
	Peer string
	// Detect, when set, runs a suspension detector (suspend.Detector)
	// with these options while Run runs: a suspension it notices is
	// reported (Woke) and makes the client probe and repair the
	// connection (reconnect.Client.Wake). Nil: no detector.
	Detect *suspend.DetectorOptions
	// OnEvent receives the events, in order, one at a time.
	OnEvent func(Event)
	// Logger receives diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Driver is one account in a simulated app.
type Driver struct {
	cfg    Config
	client *reconnect.Client
	app    *suspend.App
	log    *slog.Logger
	// unlock releases the state file's lock; set by New, called once by
	// Run when it returns.
	unlock func()

	emitMu sync.Mutex // held while OnEvent runs: one event at a time

	mu       sync.Mutex // guards the fields below
	peer     string
	logins   int
	fresh    bool
	resumeAt time.Time
	pending  pending        // messages sent and not acknowledged
	wakes    []suspend.Woke // handed to the client, not yet answered
	changed  chan struct{}  // closed and replaced at every event
	// last is the newest copy of the stream-management state (Persist):
	// what the next login resumes from, also when no session is live.
	last *session.State
}

// New prepares a driver; Run starts it. A state file that cannot be used
// is reported as a warning event at Run, and what could be salvaged from it
// is kept (see session.LoadState). The state file is locked from New until
// Run returns (on Unix; ErrStateFileInUse when another process has it).
func New(cfg Config) (*Driver, error) {
	if cfg.BgWindow <= 0 {
		cfg.BgWindow = DefaultBgWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(Event) {}
	}
	d := &Driver{cfg: cfg, log: cfg.Logger, peer: cfg.Peer, changed: make(chan struct{}), unlock: func() {}}

	account := Bare(cfg.Session.JID)
	st := &session.State{}
	var stateErr error
	if cfg.StateFile != "" {
		unlock, err := lockStateFile(cfg.StateFile)
		if err != nil {
			return nil, fmt.Errorf("state file %s: %w", cfg.StateFile, err)
		}
		d.unlock = unlock
		st, stateErr = session.LoadState(cfg.StateFile, account)
		switch {
		case errors.Is(stateErr, session.ErrForeignStateFile):
			// Another account's resumable stream and messages: never
			// overwrite them.
			unlock()
			return nil, &foreignStateError{path: cfg.StateFile, err: stateErr}
		case stateErr != nil:
			// Ours, but unusable: keep it beside, for a person to look
			// at, before the first save replaces it (what could be
			// salvaged is resent).
			if kept, err := keepAside(cfg.StateFile); err == nil {
				stateErr = fmt.Errorf("%w (the file was kept as %s)", stateErr, kept)
			} else {
				unlock()
				return nil, fmt.Errorf("state file %s: %w; and it cannot be kept aside: %w", cfg.StateFile, stateErr, err)
			}
		}
	}
	rc := reconnect.Config{
		Session:      cfg.Session,
		State:        st,
		ProbeTimeout: cfg.ProbeTimeout,
		IdleProbe:    cfg.IdleProbe,
		Backoff:      cfg.Backoff,
		OnEvent:      d.onClient,
		Logger:       cfg.Logger,
	}
	path := cfg.StateFile
	rc.Persist = func(st *session.State) {
		d.mu.Lock()
		d.last = st
		d.mu.Unlock()
		if path == "" {
			return
		}
		if err := st.Save(path, account); err != nil {
			d.log.Error("saving state", slog.Any("err", err))
		}
	}
	dial := cfg.Session.Dial
	if dial == nil {
		// The session's own, with its keepalive and TCP_USER_TIMEOUT.
		dial = cfg.Session.Dialer().DialContext
	}
	rc.Session.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.app.Dial(dial)(ctx, network, addr)
	}
	d.client = reconnect.New(rc)
	d.app = suspend.New(d.client, suspend.Options{Policy: cfg.Policy, OnEvent: d.onApp, Logger: cfg.Logger})
	if stateErr != nil {
		d.emit(Warning{Stamp: now(), Reason: WarnStateFile, Err: stateErr})
	}
	return d, nil
}

// ErrStateFileInUse is returned by New when another process holds the state
// file: two processes must never resume the same stream.
var ErrStateFileInUse = errors.New("it is in use by another xmppbg process (two processes must never resume the same stream)")

// Bare returns the bare JID (without the resource) of a JID.
func Bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// Run keeps the account connected until ctx ends or a permanent error.
// With Config.Detect, a suspension detector runs as long as Run does.
func (d *Driver) Run(ctx context.Context) error {
	defer d.unlock()
	if d.cfg.Detect != nil {
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.runDetector(dctx, *d.cfg.Detect)
		}()
		defer func() {
			cancel()
			<-done
		}()
	}
	return d.client.Run(ctx)
}

// Client returns the supervised client.
func (d *Driver) Client() *reconnect.Client { return d.client }

// App returns the simulated app.
func (d *Driver) App() *suspend.App { return d.app }

// emit updates the list of pending messages, wakes the waiters and hands e
// to OnEvent, one event at a time.
func (d *Driver) emit(e Event) {
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	d.mu.Lock()
	d.pending.note(e)
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
	d.cfg.OnEvent(e)
}

func (d *Driver) onClient(e reconnect.Event) {
	switch e := e.(type) {
	case reconnect.StatusChanged:
		if e.Status == reconnect.Suspended {
			return // the lifecycle reports it
		}
		ev := StateChanged{Stamp: now(), State: ClientState(e.Status), Err: e.Err}
		if e.Status == reconnect.Online {
			d.mu.Lock()
			ev.Fresh = d.fresh
			d.fresh = false
			if !d.resumeAt.IsZero() {
				ev.SinceResume = ev.At.Sub(d.resumeAt)
				d.resumeAt = time.Time{}
			}
			d.mu.Unlock()
		}
		d.emit(ev)
	case reconnect.Connected:
		d.mu.Lock()
		// A fresh session that replaces an earlier one (not resumed).
		d.fresh = !e.Login.Resumed && d.logins > 0
		d.logins++
		d.mu.Unlock()
		if e.Login.Resumed {
			d.emit(Resumed{Stamp: now(), Login: e.Login.Duration, Attempt: e.Attempt})
		} else if rf := e.Login.ResumeFailed; rf != nil {
			d.emit(Warning{Stamp: now(), Reason: WarnResumeFailed, Err: rf})
		} else if skip := e.Login.ResumeSkipped; skip != session.ResumeNotSkipped {
			d.emit(Warning{Stamp: now(), Reason: WarnResumeSkipped, Skip: skip, Detail: skip.String()})
		}
	case reconnect.Received:
		d.emit(Received{Stamp: now(), Message: e.Message})
	case reconnect.Duplicate:
		d.emit(Duplicate{Stamp: now(), Message: e.Message})
	case reconnect.Sent:
		d.emit(Sent{Stamp: now(), Message: e.Message, Queued: e.Queued})
	case reconnect.Acked:
		if ids := messageIDs(e.Stanzas); len(ids) > 0 {
			d.emit(Acked{Stamp: now(), IDs: ids})
		}
	case reconnect.Resent:
		if ids := messageIDs(e.Stanzas); len(ids) > 0 {
			d.emit(Resent{Stamp: now(), IDs: ids, Delayed: e.Delayed})
		}
	case reconnect.Bounced:
		d.emit(Bounced{Stamp: now(), Bounced: e})
	case reconnect.Presence:
		if e.From == "" || e.Type != "" && e.Type != "unavailable" {
			return // the server's own, or not about being online
		}
		if Bare(e.From) == Bare(d.cfg.Session.JID) {
			return // ours, reflected, or another resource of the account
		}
		d.emit(Contact{Stamp: now(), JID: e.From, Online: e.Type == ""})
	case reconnect.Dead:
		d.emit(Dead{Stamp: now(), Err: e.Err, ByProbe: e.ByProbe, Took: e.Took})
	case reconnect.Woken:
		d.woken(e)
	case reconnect.Retrying:
		d.emit(Retrying{Stamp: now(), Attempt: e.Attempt, Delay: e.Delay, Err: e.Err})
	case reconnect.Failed:
		d.emit(Undelivered{Stamp: now(), Stanza: e.Stanza, Reason: e.Reason})
	case reconnect.Warning:
		d.emit(Warning{Stamp: now(), Reason: WarnSession, Detail: e.Text})
	case reconnect.Skipped:
		d.emit(Warning{Stamp: now(), Reason: WarnStanzaSkipped, Stanza: e})
	}
}

func (d *Driver) onApp(e suspend.Event) {
	switch e := e.(type) {
	case suspend.StateChanged:
		switch e.To {
		case suspend.Background:
			d.emit(StateChanged{Stamp: Stamp{At: e.At}, State: Background})
		case suspend.Suspended:
			d.emit(StateChanged{Stamp: Stamp{At: e.At}, State: Suspended})
		}
	case suspend.WindowExpired, suspend.PolicyRan, suspend.FaultInjected:
		d.emit(Lifecycle{Stamp: now(), Step: e})
	}
}

// Peer returns the current recipient of plain lines.
func (d *Driver) Peer() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peer
}

// SetPeer sets the recipient of plain lines.
func (d *Driver) SetPeer(jid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.peer = jid
}

// Send sends body to to.
func (d *Driver) Send(ctx context.Context, to, body string) (session.Message, error) {
	return d.client.Send(ctx, to, body)
}

// Background begins a background task of the given window (the default
// when zero); when it expires, the policy runs and the app is suspended.
func (d *Driver) Background(window time.Duration) error {
	if window <= 0 {
		window = d.cfg.BgWindow
	}
	return d.app.BeginBackgroundTask(window, func() {})
}

// Suspend suspends the app now (running the policy first).
func (d *Driver) Suspend() error { return d.app.Suspend() }

// Probe probes the live connection now (see reconnect.Client.Probe) and
// describes the result on one line: what /resume does when the app is
// already in the foreground. A dead connection is also reported as events
// (Dead, then the repair); it is not an error of the command.
func (d *Driver) Probe(ctx context.Context) string {
	took, err := d.client.Probe(ctx)
	switch {
	case err == nil:
		return fmt.Sprintf("the app is in the foreground already; probed the connection: alive (answered in %v)", took.Round(time.Millisecond))
	case errors.Is(err, reconnect.ErrNotOnline), errors.Is(err, reconnect.ErrNotRunning):
		return "the app is in the foreground already; no connection to probe now (" + d.client.Status().String() + ")"
	case errors.Is(err, session.ErrProbeTimeout):
		return fmt.Sprintf("the app is in the foreground already; probed the connection: no answer in %v, it is dead and being repaired", took.Round(time.Millisecond))
	}
	return "the app is in the foreground already; probed the connection: " + err.Error()
}

// Resume brings the app back: the connection is probed and repaired.
func (d *Driver) Resume() error {
	d.mu.Lock()
	d.resumeAt = time.Now()
	d.mu.Unlock()
	return d.app.Resume()
}

// Tear injects a fault into the current connection. Without one it says
// why, in the user's terms: with the detach and close policies a suspended
// app has closed its socket (only hold keeps one a fault can hit).
func (d *Driver) Tear(f suspend.Fault) error {
	err := d.app.Inject(f)
	if !errors.Is(err, suspend.ErrNoConn) {
		return err
	}
	switch app := d.app.State(); {
	case app == suspend.Suspended && d.cfg.Policy != suspend.PolicyHold:
		return fmt.Errorf("%w: nothing to tear: policy %s closed the socket when the app was suspended (the stream stays resumable with detach); only --bg-policy hold keeps a socket a fault can hit", ErrNoConnection, d.cfg.Policy)
	default:
		return fmt.Errorf("%w: nothing to tear: no connection now (%s)", ErrNoConnection, d.client.Status())
	}
}

// ErrNoConnection is wrapped by Tear's error when there is no socket to
// tear.
var ErrNoConnection = errors.New("no connection")

// Status describes the driver.
type Status struct {
	App    suspend.State
	Client reconnect.Status
	Peer   string
	JID    string
	// Queued and Unacked count the messages of Pending: held until the
	// client is online, and written but not yet acknowledged.
	Queued    int
	Unacked   int
	Resumable bool
	SM        bool
}

// Status returns the current status.
func (d *Driver) Status() Status {
	st := Status{App: d.app.State(), Client: d.client.Status(), Peer: d.Peer()}
	st.Queued, st.Unacked = d.Pending()
	if s, ok := d.client.SessionInfo(); ok {
		st.JID = s.JID
		st.Resumable = s.State.Resumable(time.Now())
		st.SM = s.Login.SM
		return st
	}
	// No live session (detached, suspended, reconnecting): what the next
	// login will find is the state kept from the last one.
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	if last != nil {
		st.JID = last.JID
		st.Resumable = last.Resumable(time.Now())
		st.SM = last.ID != ""
	}
	return st
}

// ErrPending is returned by Drain when messages are still unacknowledged
// at its deadline.
var ErrPending = errors.New("driver: messages still unacknowledged")

// Pending returns how many messages sent through this driver (or resent
// from its state file) the server has not acknowledged: held until the
// client is online (queued), and written but unconfirmed (unacked).
func (d *Driver) Pending() (queued, unacked int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending.count()
}

// Changed returns a channel closed at the next event: wait on it, then
// look again at what the event may have changed. Take it before looking,
// so that no event slips in between.
func (d *Driver) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

// Drain waits (bounded by ctx) until nothing sent is waiting: the client is
// online and the server acknowledged every message.
func (d *Driver) Drain(ctx context.Context) error {
	for {
		changed := d.Changed()
		queued, unacked := d.Pending()
		if queued == 0 && unacked == 0 && d.client.Status() == reconnect.Online {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d queued, %d unacknowledged", ErrPending, queued, unacked)
		case <-changed:
		}
	}
}

// keepAside renames an unusable state file to a name of its own beside it
// and returns that name.
func keepAside(path string) (string, error) {
	kept := fmt.Sprintf("%s.unusable-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(path, kept); err != nil {
		return "", err
	}
	return kept, nil
}

// foreignStateError refuses another account's state file. It is a
// configuration error (session.ErrConfig) and wraps the session's
// ErrForeignStateFile.
type foreignStateError struct {
	path string
	err  error
}

func (e *foreignStateError) Error() string {
	why := strings.TrimPrefix(e.err.Error(), session.ErrForeignStateFile.Error()+": ")
	return "the state file " + e.path + " is not this account's (" + why + "): give this account a state file of its own; the file was left as it is"
}

func (e *foreignStateError) Unwrap() []error { return []error{session.ErrConfig, e.err} }
