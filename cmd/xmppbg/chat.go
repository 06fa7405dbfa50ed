package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// Defaults of the chat command.
const (
	// defaultQuitTimeout bounds the wait for the server's acknowledgements
	// on /quit and at the end of the input.
	defaultQuitTimeout = 10 * time.Second
	// interruptTimeout bounds the same wait, and the logout, after SIGINT,
	// SIGTERM or Ctrl-C: the user wants out now.
	interruptTimeout = 2 * time.Second
	// maxChatLine bounds one line of input; longer lines are refused.
	maxChatLine = 64 << 10
	// leaveWaitOffline bounds the wait for acknowledgements when leaving
	// while the server cannot be reached (a login failed or the connection
	// was lost), and the wait for a first login when nothing is pending.
	leaveWaitOffline = 2 * time.Second
	// forceStopWait bounds the wait for the client to stop once the chat
	// has decided to end.
	forceStopWait = time.Second
	// suspendedSendGrace is how long a message typed while the app is
	// suspended may take to be queued before the next line is read, so
	// that its "sent" comes before what that line does.
	suspendedSendGrace = 20 * time.Millisecond
)

// Why the chat ends, as reported in the "quit" event.
const (
	quitEOF       = "eof"       // end of the input (Ctrl-D on a terminal)
	quitCommand   = "command"   // /quit
	quitSignal    = "signal"    // SIGINT or SIGTERM
	quitInterrupt = "interrupt" // Ctrl-C on the terminal
)

// chatOptions are the chat command's options.
type chatOptions struct {
	*globalOptions

	// To is the initial peer: the recipient of plain lines.
	To string
	// BgPolicy is what happens to the connection when the background window
	// ends: hold, detach or close (Policy once parsed).
	BgPolicy string
	Policy   suspend.Policy
	// BgWindow is /bg's window when it is given no duration.
	BgWindow time.Duration
	// ProbeTimeout bounds the liveness probe on /resume.
	ProbeTimeout time.Duration
	// IdleProbe is the interval of liveness probes while online; 0 turns
	// them off.
	IdleProbe time.Duration
	// StateFile keeps the stream-management state on disk, so that another
	// process can resume the stream; the chat then ends by detaching
	// rather than logging out.
	StateFile string
	// QuitTimeout bounds the wait for acknowledgements when leaving.
	QuitTimeout time.Duration
	// NoDetect turns off the suspension detector.
	NoDetect bool
	// NoHistory keeps the interactive chat's history in memory only.
	NoHistory bool
}

// newCmdChat returns the chat command. runF does the work (runChat when nil);
// tests pass their own to check the parsed options.
func newCmdChat(g *globalOptions, runF func(context.Context, *chatOptions) error) *cobra.Command {
	opts := &chatOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat interactively through simulated backgrounds, suspensions and broken sockets",
		Long: `Log in and chat: plain lines go to the current peer (--to, /to), commands
start with "/". Commands simulate what a phone does to the app: go to the
background (/bg), get suspended (/suspend), lose the socket (/tear), come back
(/resume), while the session is kept or repaired with XEP-0198 stream
resumption. A line starting with "//" sends the text after the first "/".

` + driver.Help + `

On a terminal, incoming messages and what happens to the connection are shown
as they happen, above the line being typed, which stays intact; the prompt shows
the connection state and the peer; contacts coming online or going offline are
shown too. Line editing as in readline's emacs mode: Home/End (Ctrl-A/E),
Alt-b/Alt-f (Ctrl-arrows) by word, Ctrl-W, Ctrl-K, Ctrl-U; Up and down browse
the history, Ctrl-R searches it (Ctrl-G gives up); Tab completes commands, their
arguments and the JIDs of contacts seen. Pasted text is never taken for keys: a
pasted line break shows as "↵" and is sent as a line break. Ctrl-D leaves like
/quit, Ctrl-C like SIGINT. Colours are off when NO_COLOR is set.

The lines typed, messages included, are kept across runs in
$XDG_STATE_HOME/xmppbg/history (~/.local/state/xmppbg/history; on macOS and
Windows in the user's configuration directory), readable by the user only, at
most 1000 lines. A line starting with a space, and a line containing the
password, is never kept; --no-history keeps nothing on disk.

A fault hits a socket: /suspend then /tear needs --bg-policy hold (the app
keeps its frozen socket); with detach the socket is closed at suspension (the
stream stays resumable: /status says so, /resume resumes it) and /tear says
there is nothing to tear. /resume in the foreground probes the connection.

With --json (or when stdin is not a terminal) the same commands are read from
stdin, one per line. With --json, stdout carries only JSON objects, one per
line, each starting with "event" and "time"; logs go to stderr. Events: state
(connecting, online, background, suspended, resuming, reconnecting, offline;
"fresh":true on the online state of a new session that replaced a stream that
could not be resumed), resumed, message, duplicate, presence, sent, acked,
bounced (an error reply to a message sent, with its id), resent, dead, retry,
lifecycle, warning, skipped (an incoming stanza too deep or too large,
acknowledged and not delivered: kind, id, from, reason), error, status, peer,
help, info, quit. "quit" comes after every event of the work typed before it
and is followed by exactly one "state offline", the last line (then, when the
chat fails, the "error" with its code).

Leaving (/quit, end of input): the app comes back to the foreground if needed,
xmppbg waits up to --quit-timeout until the server acknowledged everything
sent, then logs out (the server ends the stream). With --state-file the stream
is detached instead, left resumable, and its state kept in the file: the next
"xmppbg chat --state-file FILE" resumes it with nothing lost. SIGINT, SIGTERM
and SIGHUP leave the same way but within 2s in all (acknowledgements and
logout). When the server cannot be reached (a login failed or the connection
was lost), or nothing is pending and the first login has not finished, the
wait is 2s, not --quit-timeout. A second Ctrl-C (any signal) while leaving
ends the waits at once.

Exit status 0 when everything sent was acknowledged; 6 when messages stayed
unacknowledged (their delivery is unknown); 3, 4 or 5 when the login cannot
succeed (see xmppbg --help).`,
		Example: `  XMPPBG_PASSWORD=secret xmppbg chat --jid alice@example.org --to bob@example.org
  printf '/msg bob@example.org hi\n/bg 1s\n/resume\n' | xmppbg chat --json --jid alice@example.org --password-file pw`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runChat(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "send plain lines to `JID` (change it with /to)")
	f.StringVar(&opts.BgPolicy, "bg-policy", "detach", "what the app does with its connection when the background window ends: hold, detach or close")
	f.DurationVar(&opts.BgWindow, "bg-window", driver.DefaultBgWindow, "background-task window of /bg without a duration")
	f.DurationVar(&opts.ProbeTimeout, "probe-timeout", reconnect.DefaultProbeTimeout, "a connection that does not answer a probe on /resume within `DURATION` is dead")
	f.DurationVar(&opts.IdleProbe, "idle-probe", reconnect.DefaultIdleProbe, "probe a silent connection every `DURATION` (0: never)")
	f.StringVar(&opts.StateFile, "state-file", "", "keep the stream-management state in `FILE` so that a later chat resumes the stream")
	f.DurationVar(&opts.QuitTimeout, "quit-timeout", defaultQuitTimeout, "when leaving, wait at most `DURATION` for the server to acknowledge what was sent")
	f.BoolVar(&opts.NoDetect, noDetectFlag, false, noDetectUsage)
	f.BoolVar(&opts.NoHistory, "no-history", false, "on a terminal, keep the lines typed in memory only, not in the history file")
	return cmd
}

// validate checks the chat flags and parses the policy.
func (opts *chatOptions) validate() error {
	p, err := suspend.ParsePolicy(opts.BgPolicy)
	if err != nil {
		return usageErrorf("invalid --bg-policy %q: want hold, detach or close", opts.BgPolicy)
	}
	opts.Policy = p
	switch {
	case opts.BgWindow <= 0:
		return usageErrorf("--bg-window must be positive (got %s)", opts.BgWindow)
	case opts.ProbeTimeout <= 0:
		return usageErrorf("--probe-timeout must be positive (got %s)", opts.ProbeTimeout)
	case opts.IdleProbe < 0:
		return usageErrorf("--idle-probe must not be negative (got %s; 0 turns idle probes off)", opts.IdleProbe)
	case opts.QuitTimeout < 0:
		return usageErrorf("--quit-timeout must not be negative (got %s)", opts.QuitTimeout)
	}
	if opts.To != "" && !plausibleJID(opts.To) {
		return usageErrorf("invalid --to %q: want a JID such as bob@example.org", opts.To)
	}
	if opts.StateFile != "" {
		if fi, err := os.Stat(opts.StateFile); err == nil && fi.IsDir() {
			return usageErrorf("--state-file %s is a directory", opts.StateFile)
		}
	}
	return nil
}

// plausibleJID is a light check of a peer's JID; the server has the last
// word.
func plausibleJID(s string) bool {
	if s == "" || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "@") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// chat is one run of the chat command.
type chat struct {
	opts   *chatOptions
	jid    string
	addr   string
	ui     chatUI
	d      *driver.Driver
	runCtx context.Context

	started chan struct{} // closed at the first state event
	runDone chan struct{}
	runErr  error
	sendQ   chan sendJob
	sending atomic.Int32 // messages queued for the sender, not yet handed over

	mu         sync.Mutex
	state      driver.State // the last state reported
	everOnline bool
	lastErr    error // why the last login attempt or connection failed
	leaving    bool
	closed     bool
	// held is the offline state reported while leaving, shown last by
	// finish.
	held *driver.StateChanged

	// cooked is the terminal's state before the chat (nil when stdin is
	// not a terminal), for leaving with Ctrl-C a signal again.
	cooked *term.State
	ttyFd  int
}

// runChat logs in and runs the chat until the input ends, /quit, a signal
// (ctx) or an error that retrying cannot fix.
func runChat(ctx context.Context, opts *chatOptions) error {
	cfg, err := opts.sessionConfig()
	if err != nil {
		return err
	}
	c := &chat{opts: opts, jid: cfg.JID, addr: connectAddr(cfg), runDone: make(chan struct{}), started: make(chan struct{}),
		sendQ: make(chan sendJob, reconnect.DefaultQueueSize)}
	if f, ok := opts.IO.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.ttyFd = int(f.Fd())
		c.cooked, _ = term.GetState(c.ttyFd)
	}

	ui, err := c.newUI(cfg.Logger, cfg.Password)
	if err != nil {
		return err
	}
	c.ui = ui
	defer ui.close()
	logger := ui.logger()
	if logger == nil {
		logger = cfg.Logger
	}
	cfg.Logger = logger

	idle := opts.IdleProbe
	if idle == 0 {
		idle = -1 // reconnect: negative turns idle probes off
	}
	var detect *suspend.DetectorOptions
	if !opts.NoDetect {
		detect = &suspend.DetectorOptions{}
	}
	d, err := driver.New(driver.Config{
		Detect:       detect,
		Session:      cfg,
		Policy:       opts.Policy,
		BgWindow:     opts.BgWindow,
		ProbeTimeout: opts.ProbeTimeout,
		IdleProbe:    idle,
		StateFile:    opts.StateFile,
		Peer:         opts.To,
		OnEvent:      c.event,
		Logger:       logger,
	})
	if err != nil {
		return err
	}
	c.d = d
	ui.setPeer(opts.To)

	// The client runs until we leave, not until the signal: leaving still
	// needs it to deliver and log out.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	c.runCtx = runCtx
	go func() {
		c.runErr = d.Run(runCtx)
		close(c.runDone)
	}()
	go c.sender()

	// Commands wait until the client runs, so that they find it running
	// and their events follow its first state.
	select {
	case <-c.started:
	case <-c.runDone:
		return c.fatal()
	case <-ctx.Done():
		return c.leave(quitSignal, cancelRun)
	}
	lines, want, stop := readInput(ui.source())
	defer close(stop)
	want <- struct{}{}
	for {
		select {
		case <-ctx.Done():
			return c.leave(quitSignal, cancelRun)
		case <-c.runDone:
			return c.fatal()
		case in := <-lines:
			if in.err != nil {
				if errors.Is(in.err, errLineTooLong) {
					ui.commandError("", fmt.Errorf("a line longer than %d bytes was ignored", maxChatLine))
					want <- struct{}{}
					continue
				}
				if ui.interrupted() {
					return c.leave(quitInterrupt, cancelRun)
				}
				if !errors.Is(in.err, io.EOF) {
					ui.warn("reading the input: " + in.err.Error() + "; leaving")
				}
				return c.leave(quitEOF, cancelRun)
			}
			if c.handle(in.text) {
				return c.leave(quitCommand, cancelRun)
			}
			want <- struct{}{}
		}
	}
}

// handle runs one line of input and reports whether it asks to quit.
func (c *chat) handle(line string) (quit bool) {
	cmd, err := driver.ParseCommand(line)
	if err != nil {
		c.ui.commandError(line, err)
		return false
	}
	switch cmd.Op {
	case driver.OpNone:
		return false
	case driver.OpQuit:
		return true
	case driver.OpStatus:
		c.ui.status(c.d.Status())
		return false
	case driver.OpSend:
		if cmd.To == "" {
			cmd.To = c.d.Peer() // the peer now, whatever /to comes next
		}
		if cmd.To != "" {
			c.send(line, cmd)
			return false
		}
	}
	c.exec(line, cmd)
	return false
}

// exec runs one command and shows its result.
func (c *chat) exec(line string, cmd driver.Command) {
	text, err := c.d.Exec(c.runCtx, cmd)
	if err != nil {
		if !errors.Is(err, driver.ErrUsage) {
			err = &cliError{msg: "/" + cmdLabel(cmd) + ": " + userText(err), err: err}
		}
		c.ui.commandError(line, err)
		return
	}
	switch cmd.Op {
	case driver.OpTo:
		c.ui.setPeer(cmd.To)
	case driver.OpResume:
		c.foreground()
	}
	c.ui.reply(cmd, text)
}

// foreground reports the connection's state again after the app came back
// from the background before its window ended: the app is active again but
// the connection did not change, so nothing else says so.
func (c *chat) foreground() {
	c.mu.Lock()
	bg := c.state == driver.Background
	c.mu.Unlock()
	if bg {
		c.event(driver.StateChanged{Stamp: driver.Stamp{At: time.Now()}, State: driver.ClientState(c.d.Client().Status())})
	}
}

// sendJob is a message for the sender goroutine; a zero cmd only marks a
// point in the queue.
type sendJob struct {
	line string
	cmd  driver.Command
	done chan struct{}
}

// sender sends messages in order. Sending is quick, except into the frozen
// socket of a suspended app that holds its connection (policy hold): it
// then waits for /resume, which must not wait behind it.
func (c *chat) sender() {
	for {
		select {
		case j := <-c.sendQ:
			if j.cmd.Op != driver.OpNone {
				c.exec(j.line, j.cmd)
				c.sending.Add(-1)
			}
			close(j.done)
		case <-c.runCtx.Done():
			return
		}
	}
}

// send queues a message and waits until it was sent, unless the app is (or
// becomes) suspended meanwhile.
func (c *chat) send(line string, cmd driver.Command) {
	done := make(chan struct{})
	c.sending.Add(1)
	c.sendQ <- sendJob{line: line, cmd: cmd, done: done}
	for {
		changed := c.d.Changed()
		if c.d.App().State() == suspend.Suspended {
			// Queued at once when the connection is closed; stuck in
			// the frozen socket when it is held: give it a moment,
			// then read on so that /resume can unfreeze it.
			t := time.NewTimer(suspendedSendGrace)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
			}
			return
		}
		select {
		case <-done:
			return
		case <-changed: // the app may have been suspended meanwhile
		}
	}
}

// flushSends waits (bounded by ctx) until the messages queued for the sender
// were handed to the client.
func (c *chat) flushSends(ctx context.Context) {
	done := make(chan struct{})
	select {
	case c.sendQ <- sendJob{done: done}:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// cmdLabel names a command in an error.
func cmdLabel(cmd driver.Command) string {
	if cmd.Op == driver.OpSend {
		return "msg"
	}
	return cmd.Op.String()
}

// event receives the driver's events, in order.
func (c *chat) event(e driver.Event) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	switch ev := e.(type) {
	case driver.StateChanged:
		if c.state == 0 {
			close(c.started)
		}
		if c.leaving && ev.State == driver.Offline {
			// Shown once, as the last line, by finish. Run ends with
			// "offline" and the context's error when we stop it: that
			// is the end we chose, not a failure.
			if errors.Is(ev.Err, context.Canceled) {
				ev.Err = nil
			}
			if c.held == nil || c.held.Err == nil && ev.Err != nil {
				c.held = &ev
			}
			c.state = driver.Offline
			c.mu.Unlock()
			return
		}
		c.state = ev.State
		if ev.State == driver.Online {
			c.everOnline = true
		}
	case driver.Retrying:
		c.lastErr = ev.Err
	case driver.Dead:
		c.lastErr = ev.Err
	}
	c.mu.Unlock()
	c.ui.event(e)
}

// finish makes sure the last state reported is offline, then drops any
// later event (a timer of the simulated app firing after the end). When
// leaving, that is exactly one offline state, after "quit": the one held
// back while leaving (with the reason, if the client failed), else a new
// one.
func (c *chat) finish() {
	c.mu.Lock()
	last, leaving, held := c.state, c.leaving, c.held
	c.closed = true
	c.mu.Unlock()
	switch {
	case held != nil:
		c.ui.event(*held)
	case leaving || last != driver.Offline:
		c.ui.event(driver.StateChanged{Stamp: driver.Stamp{At: time.Now()}, State: driver.Offline})
	}
}

// fatal reports that the client stopped for good.
func (c *chat) fatal() error {
	c.finish()
	err := c.runErr
	var (
		auth *session.AuthError
		cert *session.CertificateError
		tlsE *session.TLSError
	)
	if errors.As(err, &auth) || errors.As(err, &cert) || errors.As(err, &tlsE) || errors.Is(err, session.ErrConfig) {
		return &cliError{msg: describeConnectError(c.jid, c.addr, err), err: err}
	}
	return &cliError{msg: "the session ended for good: " + userText(err), err: err}
}

// leave ends the chat: back to the foreground when needed, wait (bounded)
// until the server acknowledged everything sent, then log out, or detach
// when the stream must stay resumable (--state-file). It returns an error
// (exit 6) when messages stayed unacknowledged.
//
// The waits are bounded: by --quit-timeout; after SIGINT, SIGTERM or
// Ctrl-C by interruptTimeout in all (acknowledgements and logout
// together); by leaveWaitOffline when the server cannot be reached (a
// login failed or the connection was lost, and the client is not online)
// or when nothing is pending and the first login has not finished. A
// signal while leaving (a second Ctrl-C) ends the waits at once.
//
// With --json, "quit" comes after the work, once the client has stopped:
// every event of what was typed before it (sent, acked, ...) comes first,
// and the one "state offline" that ends the run comes last.
func (c *chat) leave(reason string, cancelRun context.CancelFunc) error {
	c.mu.Lock()
	c.leaving = true
	lastErr := c.lastErr
	c.mu.Unlock()
	jsonMode := c.opts.Output().JSON()
	if !jsonMode {
		c.ui.quit(reason) // say why we wait
	}
	quitted := !jsonMode
	quit := func() {
		if !quitted {
			c.ui.quit(reason)
			quitted = true
		}
	}
	force, stopForce := c.forceExit(reason)
	defer stopForce()

	interrupted := reason == quitSignal || reason == quitInterrupt
	keep := c.opts.StateFile != ""
	pending := c.unacknowledged() + int(c.sending.Load())
	app := c.d.App().State()
	online := c.d.Client().Status() == reconnect.Online

	wait, logoutWait := c.opts.QuitTimeout, closeTimeout
	switch {
	case interrupted:
		wait = min(wait, interruptTimeout)
	case !online && lastErr != nil && app == suspend.Active:
		// The server cannot be reached now: a short wait for it to come
		// back, not --quit-timeout for nothing.
		wait = min(wait, leaveWaitOffline)
	case !online && pending == 0 && !c.wasOnline():
		// Nothing to deliver: wait for the first login only long enough
		// to report one that fails at once (a wrong password).
		wait = min(wait, leaveWaitOffline)
	}
	deadline := time.Now().Add(wait)
	if interrupted {
		logoutWait = 0 // within the same deadline
	}

	select {
	case <-c.runDone:
		quit()
		return c.fatal() // nothing can be delivered any more
	default:
	}

	// Without --state-file the stream is closed for good, which needs a
	// connection; with it, a suspended app stays suspended (its stream
	// resumable) unless something sent still waits for the server.
	if app != suspend.Active && (pending > 0 || !keep) {
		if err := c.d.Resume(); err != nil {
			c.ui.warn("coming back to the foreground: " + userText(err))
		}
		c.foreground()
		app = c.d.App().State()
	}

	// Wait until everything sent is acknowledged, which needs the client
	// online: also when it never was (the login may still fail for good,
	// and that must be said), but not for nothing when it was and nothing
	// is left.
	dctx, cancel := context.WithDeadline(force, deadline)
	go func() {
		select {
		case <-c.runDone:
			cancel() // Run failed for good: no use waiting
		case <-dctx.Done():
		}
	}()
	c.flushSends(dctx)
	pending = c.unacknowledged()
	online = c.d.Client().Status() == reconnect.Online
	var drainErr error
	if app == suspend.Active && (!c.wasOnline() || online || pending > 0) {
		drainErr = c.d.Drain(dctx)
	} else if pending > 0 {
		drainErr = driver.ErrPending
	}
	cancel()
	select {
	case <-c.runDone:
		quit()
		return c.fatal()
	default:
	}

	forced := force.Err() != nil
	switch {
	case forced:
		// Out now: the client is stopped below without a goodbye.
	case keep && app == suspend.Active:
		if err := c.d.Client().Detach(); err != nil {
			c.ui.warn("detaching: " + userText(err))
		}
	case keep && app == suspend.Background:
		// Ends the window now: the policy runs as when the app is killed.
		if err := c.d.Suspend(); err != nil {
			c.ui.warn("suspending: " + userText(err))
		}
	case !keep:
		ldl := deadline
		if logoutWait > 0 {
			ldl = time.Now().Add(logoutWait)
		}
		lctx, cancel := context.WithDeadline(force, ldl)
		if err := c.d.Client().Logout(lctx); err != nil && drainErr == nil && force.Err() == nil {
			c.ui.warn("logging out: " + userText(err))
		}
		cancel()
	}

	cancelRun()
	select {
	case <-c.runDone:
	case <-time.After(forceStopWait):
		// Run did not stop in time (a frozen socket): the process ends
		// anyway; the state file, if any, holds what was saved.
	}
	quit()
	c.finish()
	if drainErr == nil {
		return nil
	}
	if !c.wasOnline() {
		return c.neverOnline(wait)
	}
	return c.pendingError(keep)
}

// forceExit returns a context cancelled by a signal (SIGINT, SIGTERM)
// while leaving: the user does not want to wait any more. On a terminal
// the line editor keeps the terminal raw, where Ctrl-C is a key and not a
// signal: the terminal is put back as it was before the chat (Ctrl-C a
// signal again) for the time it takes to leave, and a Ctrl-C typed before
// that (the UI's interrupts) forces as a signal does. reason is why the
// chat leaves: when it is the Ctrl-C that ended the line (quitInterrupt),
// that key's own value is on interrupts already, and is not a second one.
func (c *chat) forceExit(reason string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	if c.cooked != nil {
		_ = term.Restore(c.ttyFd, c.cooked)
	}
	var intr <-chan struct{}
	if c.ui != nil {
		intr = c.ui.interrupts()
	}
	if reason == quitInterrupt && intr != nil {
		// The key reader queues a Ctrl-C's value before the line editor
		// reads the key, so the value of the one that ended the line is
		// there now; any other is a Ctrl-C typed after it.
		select {
		case <-intr:
		default:
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-intr:
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// wasOnline reports whether the client has been online.
func (c *chat) wasOnline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.everOnline
}

// unacknowledged returns how many messages sent wait for the server's
// acknowledgement (sent or queued).
func (c *chat) unacknowledged() int {
	queued, unacked := c.d.Pending()
	return queued + unacked
}

// neverOnline reports a chat that ended before its first login succeeded.
func (c *chat) neverOnline(wait time.Duration) error {
	c.mu.Lock()
	lastErr := c.lastErr
	c.mu.Unlock()
	msg := fmt.Sprintf("not logged in as %s after waiting %s to leave", c.jid, wait)
	if lastErr != nil {
		msg = describeConnectError(c.jid, c.addr, lastErr) + " (not logged in when leaving)"
	}
	if err := c.pendingError(false); err != nil {
		msg += "; " + strings.TrimPrefix(err.Error(), "leaving with ")
	}
	if lastErr == nil {
		lastErr = errTimeout
	}
	return &cliError{msg: msg, err: lastErr}
}

// pendingError reports the messages of this chat left unacknowledged at the
// end (exit 6), or nil if there are none: the wait may have ended only for
// want of a connection.
func (c *chat) pendingError(keep bool) error {
	queued, unacked := c.d.Pending()
	if queued == 0 && unacked == 0 {
		return nil
	}
	var parts []string
	if unacked > 0 {
		s := fmt.Sprintf("%d message(s) not acknowledged by the server: delivery unknown", unacked)
		if keep {
			s += fmt.Sprintf(" (kept in %s: the next chat with --state-file %s sends them again)", c.opts.StateFile, c.opts.StateFile)
		}
		parts = append(parts, s)
	}
	if queued > 0 {
		s := fmt.Sprintf("%d message(s) never sent: the client was not online", queued)
		if keep {
			s += fmt.Sprintf(" (kept in %s: the next chat with --state-file %s sends them)", c.opts.StateFile, c.opts.StateFile)
		}
		parts = append(parts, s)
	}
	return &cliError{msg: "leaving with " + strings.Join(parts, "; "), err: errTimeout}
}

// A chatUI shows what happens and where the input comes from: JSON lines,
// a line-editing terminal, or plain text.
type chatUI interface {
	// source returns where lines of input come from.
	source() lineSource
	// logger returns the logger to use, nil for the default.
	logger() *slog.Logger
	event(driver.Event)
	quit(reason string)
	reply(cmd driver.Command, text string)
	status(driver.Status)
	commandError(input string, err error)
	warn(text string)
	setPeer(jid string)
	// interrupted reports whether the input ended with Ctrl-C.
	interrupted() bool
	// interrupts receives a value for each Ctrl-C typed on a raw terminal
	// (which sends no SIGINT), also while no line is read; nil without
	// one. The first also ends the line being read (io.EOF, interrupted).
	interrupts() <-chan struct{}
	close()
}

// newUI picks the interface: JSON with --json, a line-editing terminal when
// stdin and stdout are terminals, plain text otherwise.
func (c *chat) newUI(base *slog.Logger, password string) (chatUI, error) {
	o := c.opts.Output()
	if o.JSON() {
		return &jsonUI{o: o, in: newLineReader(c.opts.IO.In), jid: c.jid, addr: c.addr}, nil
	}
	in, inOK := c.opts.IO.In.(*os.File)
	out, outOK := c.opts.IO.Out.(*os.File)
	color := c.opts.Getenv("NO_COLOR") == "" && c.opts.Getenv("TERM") != "dumb"
	if inOK && outOK && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd())) {
		return newTermUI(in, out, newPalette(color), base, c.jid, c.addr, c.termOptions(password))
	}
	// Plain text: colours only when both streams it writes are terminals.
	errOut, errOK := c.opts.IO.ErrOut.(*os.File)
	color = color && outOK && errOK && term.IsTerminal(int(out.Fd())) && term.IsTerminal(int(errOut.Fd()))
	return &textUI{
		out: lockedStdout{o}, notes: o.Stderr(), p: newPalette(color),
		in: newLineReader(c.opts.IO.In), jid: c.jid, addr: c.addr,
	}, nil
}

// lockedStdout writes to the output's stdout under its mutex, so that lines
// never interleave.
type lockedStdout struct{ o *output }

func (w lockedStdout) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	return w.o.stdout.Write(p)
}

// chatMillis is a duration in whole milliseconds, for JSON.
func chatMillis(d time.Duration) int64 { return d.Milliseconds() }

// chatIDs keeps a list of ids a JSON array.
func chatIDs(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}
