// Package driver is the application layer that the chat command and the
// scenario runner share: one account's supervised session (package reconnect)
// inside a simulated app lifecycle (package suspend), driven by the chat
// commands (/to, /msg, /bg, /suspend, /resume, /tear, /status), with the
// events of both flattened into one stream of Event values.
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
	// OnEvent receives the events, in order, one at a time.
	OnEvent func(Event)
	// Logger receives diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Event is one thing that happened, flattened for display.
type Event struct {
	At time.Time
	// Name is the JSON "event": state, resumed, message, duplicate, sent,
	// acked, resent, dead, retry, lifecycle, error, warning.
	Name string
	// State is set for "state": connecting, online, background,
	// suspended, resuming, reconnecting, offline.
	State string
	// Fresh marks the "online" state of a fresh session that replaced one
	// that could not be resumed.
	Fresh bool
	// Message is set for message, duplicate and sent.
	Message *session.Message
	// Queued marks a sent message held until the client is online.
	Queued bool
	// IDs lists stanza ids for acked and resent.
	IDs []string
	// Delayed marks resent messages that carry a delay.
	Delayed bool
	// Took is how long the probe took for dead, the wait for retry, the
	// login for resumed, and for online after /resume the time since it.
	Took time.Duration
	// Attempt counts retries.
	Attempt int
	// ByProbe marks a dead connection found by a probe.
	ByProbe bool
	// Text describes lifecycle steps, warnings and errors.
	Text string
	// Err is the error for error, dead and retry events.
	Err error
}

// Driver is one account in a simulated app.
type Driver struct {
	cfg    Config
	client *reconnect.Client
	app    *suspend.App
	log    *slog.Logger
	emitMu sync.Mutex

	mu        sync.Mutex
	peer      string
	logins    int
	fresh     bool
	lastLogin session.Login
	resumeAt  time.Time
}

// New prepares a driver; Run starts it. A state file that cannot be used
// is reported as a warning event at Run, and what could be salvaged from it
// is kept (see session.LoadState).
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
	d := &Driver{cfg: cfg, log: cfg.Logger, peer: cfg.Peer}

	account := bare(cfg.Session.JID)
	st := &session.State{}
	var stateErr error
	if cfg.StateFile != "" {
		st, stateErr = session.LoadState(cfg.StateFile, account)
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
	if cfg.StateFile != "" {
		path := cfg.StateFile
		rc.Persist = func(st *session.State) {
			if err := st.Save(path, account); err != nil {
				d.log.Error("saving state", slog.Any("err", err))
			}
		}
	}
	dial := cfg.Session.Dial
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	rc.Session.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.app.Dial(dial)(ctx, network, addr)
	}
	d.client = reconnect.New(rc)
	d.app = suspend.New(d.client, suspend.Options{Policy: cfg.Policy, OnEvent: d.onApp, Logger: cfg.Logger})
	if stateErr != nil {
		d.emit(Event{Name: "warning", Text: "state file: " + stateErr.Error() + "; starting a fresh session with the messages it held", Err: stateErr})
	}
	return d, nil
}

func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// Run keeps the account connected until ctx ends or a permanent error.
func (d *Driver) Run(ctx context.Context) error { return d.client.Run(ctx) }

// Client returns the supervised client.
func (d *Driver) Client() *reconnect.Client { return d.client }

// App returns the simulated app.
func (d *Driver) App() *suspend.App { return d.app }

func (d *Driver) emit(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	d.cfg.OnEvent(e)
}

func (d *Driver) onClient(e reconnect.Event) {
	switch e := e.(type) {
	case reconnect.StatusChanged:
		if e.Status == reconnect.Suspended {
			return // the lifecycle reports it
		}
		ev := Event{Name: "state", State: e.Status.String(), Err: e.Err}
		if e.Status == reconnect.Online {
			d.mu.Lock()
			ev.Fresh = d.fresh
			d.fresh = false
			if !d.resumeAt.IsZero() {
				ev.Took = time.Since(d.resumeAt)
				d.resumeAt = time.Time{}
			}
			d.mu.Unlock()
		}
		if e.Err != nil {
			ev.Text = e.Err.Error()
		}
		d.emit(ev)
	case reconnect.Connected:
		d.mu.Lock()
		d.lastLogin = e.Login
		// A fresh session that replaces an earlier one (not resumed).
		d.fresh = !e.Login.Resumed && d.logins > 0
		d.logins++
		d.mu.Unlock()
		if e.Login.Resumed {
			d.emit(Event{Name: "resumed", Took: e.Login.Duration, Attempt: e.Attempt})
		} else if rf := e.Login.ResumeFailed; rf != nil {
			d.emit(Event{Name: "warning", Text: rf.Error() + "; opened a fresh session", Err: rf})
		} else if e.Login.ResumeSkipped != "" {
			d.emit(Event{Name: "warning", Text: "resumption skipped: " + e.Login.ResumeSkipped + "; opened a fresh session"})
		}
	case reconnect.Received:
		m := e.Message
		d.emit(Event{Name: "message", Message: &m})
	case reconnect.Duplicate:
		m := e.Message
		d.emit(Event{Name: "duplicate", Message: &m, Text: "dropped a message already delivered"})
	case reconnect.Sent:
		m := e.Message
		d.emit(Event{Name: "sent", Message: &m, Queued: e.Queued})
	case reconnect.Acked:
		var ids []string
		for _, r := range e.Stanzas {
			if r.Kind == "message" {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) > 0 {
			d.emit(Event{Name: "acked", IDs: ids})
		}
	case reconnect.Resent:
		var ids []string
		for _, r := range e.Stanzas {
			if r.Kind == "message" {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) > 0 {
			d.emit(Event{Name: "resent", IDs: ids, Delayed: e.Delayed})
		}
	case reconnect.Dead:
		ev := Event{Name: "dead", Err: e.Err, ByProbe: e.ByProbe, Took: e.Took}
		if e.Err != nil {
			ev.Text = e.Err.Error()
		}
		d.emit(ev)
	case reconnect.Retrying:
		d.emit(Event{Name: "retry", Attempt: e.Attempt, Took: e.Delay, Err: e.Err, Text: e.Err.Error()})
	case reconnect.Failed:
		d.emit(Event{Name: "error", IDs: []string{e.Stanza.ID}, Text: e.Stanza.Kind + " " + e.Stanza.ID + " not delivered: " + e.Reason})
	case reconnect.Warning:
		d.emit(Event{Name: "warning", Text: e.Text})
	}
}

func (d *Driver) onApp(e suspend.Event) {
	switch e := e.(type) {
	case suspend.StateChanged:
		switch e.To {
		case suspend.Background:
			d.emit(Event{Name: "state", State: "background", At: e.At})
		case suspend.Suspended:
			d.emit(Event{Name: "state", State: "suspended", At: e.At})
		}
	case suspend.WindowExpired:
		d.emit(Event{Name: "lifecycle", Text: fmt.Sprintf("background window of %v expired", e.Window)})
	case suspend.PolicyRan:
		ev := Event{Name: "lifecycle", Text: "policy " + e.Policy.String() + " ran", Err: e.Err}
		if e.Err != nil {
			ev.Text += ": " + e.Err.Error()
		}
		d.emit(ev)
	case suspend.FaultInjected:
		d.emit(Event{Name: "lifecycle", Text: "socket " + faultText(e.Fault)})
	}
}

func faultText(f suspend.Fault) string {
	switch f {
	case suspend.FaultRST:
		return "torn by RST"
	case suspend.FaultBlackhole:
		return "black-holed"
	case suspend.FaultReclaim:
		return "reclaimed by the OS"
	}
	return f.String()
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

// Resume brings the app back: the connection is probed and repaired.
func (d *Driver) Resume() error {
	d.mu.Lock()
	d.resumeAt = time.Now()
	d.mu.Unlock()
	return d.app.Resume()
}

// Tear injects a fault into the current connection.
func (d *Driver) Tear(f suspend.Fault) error { return d.app.Inject(f) }

// Status describes the driver.
type Status struct {
	App       string
	Client    string
	Peer      string
	JID       string
	Queued    int
	Unacked   int
	Resumable bool
	SM        bool
}

// Status returns the current status.
func (d *Driver) Status() Status {
	st := Status{App: d.app.State().String(), Client: d.client.Status().String(), Peer: d.Peer(), Queued: d.client.Queued()}
	if s := d.client.Session(); s != nil {
		state := s.State()
		st.JID = s.JID()
		st.Unacked = len(state.Unacked)
		st.Resumable = state.Resumable(time.Now())
		st.SM = s.Login().SM
	}
	return st
}

// ErrPending is returned by Drain when messages are still unacknowledged
// at its deadline.
var ErrPending = errors.New("driver: messages still unacknowledged")

// Drain waits (bounded by ctx) until nothing sent is waiting: the offline
// queue is empty and the server acknowledged every message.
func (d *Driver) Drain(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		st := d.Status()
		if st.Queued == 0 && st.Unacked == 0 && st.Client == "online" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d queued, %d unacknowledged", ErrPending, st.Queued, st.Unacked)
		case <-t.C:
		}
	}
}
