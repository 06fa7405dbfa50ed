package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// The flag that turns the suspension detector off (chat, listen, demo).
const (
	noDetectFlag  = "no-detect-suspend"
	noDetectUsage = "do not watch for suspensions nobody announces (SIGCONT, the machine sleeping, timers firing late, the network changing); by default each one makes the client probe its connection and repair it"
)

// listenOptions are the listen command's options.
type listenOptions struct {
	*globalOptions

	// Count stops after that many messages; 0 means no limit.
	Count int
	// Timeout stops after that long; 0 means no limit.
	Timeout time.Duration
	// NoDetect turns off the suspension detector.
	NoDetect bool
}

// newCmdListen returns the listen command. runF does the work (runListen
// when nil); tests pass their own to check the parsed options.
func newCmdListen(g *globalOptions, runF func(context.Context, *listenOptions) error) *cobra.Command {
	opts := &listenOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Print incoming chat messages",
		Long: `Connect and print each incoming chat message, until interrupted (Ctrl-C,
SIGTERM), until --count messages arrived, or until --timeout passed.

Human output is one line per message: [15:04:05] FROM: TEXT, with "(delayed)"
after the sender for messages the server stored (offline storage). With --json,
a "state" event says when the client is online, then one "message" event per
message.

The connection is kept as chat keeps it: when it breaks, or is found dead by
a probe (every 5 minutes, and after a suspension nobody announced: SIGCONT,
the machine sleeping, timers firing late, the network changing), listen logs
in again and resumes the stream, so no message is lost; with --json it says
so ("dead", "retry", "resumed", "woke" events). Only a first login that fails
ends it.

--count counts every message printed, stored ones included, and listen stops
once it is reached; but the messages the server has already sent by then (a
burst of stored messages after the login) are all printed, even past the
count: the server counts them as delivered, so dropping them would lose them.

Exit status 0 when interrupted or when --count messages arrived; 6 (timeout)
when --timeout passed before --count messages arrived.`,
		Example: `  xmppbg listen --jid bob@example.org --password-file ~/.xmppbg-pw
  xmppbg listen --jid bob@example.org --json --count 1 --timeout 1m`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			if opts.Count < 0 {
				return usageErrorf("--count must not be negative")
			}
			if opts.Timeout < 0 {
				return usageErrorf("--timeout must not be negative")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runListen(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Count, "count", 0, "stop after `N` messages (0: no limit); stored messages that already arrived all print")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "stop after `DURATION` (0: no limit); an error when --count was not reached")
	cmd.Flags().BoolVar(&opts.NoDetect, noDetectFlag, false, noDetectUsage)
	return cmd
}

// runListen connects and prints incoming chat messages until ctx ends, the
// count is reached or the timeout passes. Once online, the connection is
// supervised as chat's is (package reconnect): a connection that breaks, or
// is found dead by a probe (after a suspension the detector noticed, or an
// idle one), is repaired, resuming the stream, so that no message is lost.
// A first login that fails ends the command with the error.
func runListen(ctx context.Context, opts *listenOptions) error {
	o := opts.Output()
	cfg, err := opts.sessionConfig()
	if err != nil {
		return err
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	l := &listening{o: o, jid: cfg.JID, addr: connectAddr(cfg), count: opts.Count,
		online: make(chan struct{}), reached: make(chan struct{}), failed: make(chan struct{})}
	dc := driver.Config{Session: cfg, OnEvent: l.event, Logger: cfg.Logger}
	if !opts.NoDetect {
		dc.Detect = &suspend.DetectorOptions{}
	}
	d, err := driver.New(dc)
	if err != nil {
		return err
	}
	l.d = d

	// The client runs until we leave, not until ctx: leaving still needs it
	// to log out.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(runCtx) }()
	stop := func() {
		cancelRun()
		<-runDone
		l.offline("")
	}

	select {
	case <-l.online:
	case <-l.failed:
		stop()
		return l.loginError(l.firstErr())
	case err := <-runDone:
		l.offline("")
		return l.loginError(err)
	case <-ctx.Done():
		stop()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &cliError{msg: fmt.Sprintf("--timeout %s passed while connecting", opts.Timeout), err: errTimeout}
		}
		return nil // interrupted while connecting
	}
	if !o.JSON() {
		fmt.Fprintf(o.Stderr(), "Listening as %s; press Ctrl-C to stop.\n", l.boundJID())
	}

	leave := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = d.Client().Logout(cctx)
		stop()
	}
	select {
	case <-l.reached:
		leave()
		return nil
	case err := <-runDone:
		// Only an error that retrying cannot fix stops the client.
		l.offline(err.Error())
		return &cliError{msg: "the connection ended: " + userText(err), err: err}
	case <-ctx.Done():
		leave()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && opts.Count > 0 {
			if got := l.received(); got < opts.Count {
				return &cliError{msg: fmt.Sprintf("--timeout %s passed after %d of %d messages", opts.Timeout, got, opts.Count), err: errTimeout}
			}
		}
		return nil
	}
}

// listening reports the events of listen's driver.
type listening struct {
	o         *output
	d         *driver.Driver
	jid, addr string
	count     int

	online  chan struct{} // closed at the first online state
	reached chan struct{} // closed when count messages arrived
	failed  chan struct{} // closed when the first login failed

	mu       sync.Mutex
	n        int
	bound    string // the full JID of the last session
	everUp   bool
	loginErr error
	ended    bool // the offline state at the end was reported
}

// event receives the driver's events, in order.
func (l *listening) event(e driver.Event) {
	o := l.o
	switch e := e.(type) {
	case driver.Received:
		// Messages that arrive after the count was reached, while the
		// stream closes, are printed too: the server counts them as
		// delivered, so dropping them would lose them.
		printMessage(o, e.Message)
		l.mu.Lock()
		l.n++
		if l.n == l.count {
			close(l.reached)
		}
		l.mu.Unlock()
	case driver.StateChanged:
		l.state(e)
	case driver.Retrying:
		l.mu.Lock()
		up := l.everUp
		if !up && l.loginErr == nil {
			// The first login failed: listen reports it and ends.
			l.loginErr = e.Err
			close(l.failed)
		}
		l.mu.Unlock()
		if up {
			o.Status("retry", fmt.Sprintf("login attempt %d failed (%s); next in %s", e.Attempt, sanitize(errText(e.Err)), chatDuration(e.Delay)),
				F("attempt", e.Attempt), F("ms", chatMillis(e.Delay)), F("error", errText(e.Err)))
		}
	case driver.Dead:
		f := []Field{F("probe", e.ByProbe)}
		text := "connection dead"
		if e.ByProbe {
			f = append(f, F("ms", chatMillis(e.Took)))
			text += " (no answer to the probe in " + chatDuration(e.Took).String() + ")"
		}
		o.Status("dead", text+": "+sanitize(errText(e.Err)), append(f, F("error", errText(e.Err)))...)
	case driver.Resumed:
		o.Status("resumed", "stream resumed in "+chatDuration(e.Login).String()+": nothing lost", F("ms", chatMillis(e.Login)), F("attempt", e.Attempt))
	case driver.Woke:
		o.Status("woke", e.String(), wokeFields(e)...)
	case driver.Warning:
		o.Warn(e.String())
	}
}

// state reports a state change; "offline" is reported once, at the end.
func (l *listening) state(e driver.StateChanged) {
	o := l.o
	switch e.State {
	case driver.Connecting:
		o.Status("state", "", F("state", "connecting"), F("jid", l.jid), F("addr", l.addr))
	case driver.Online:
		info, _ := l.d.Client().SessionInfo()
		l.mu.Lock()
		first := !l.everUp
		l.everUp, l.bound = true, info.JID
		l.mu.Unlock()
		f := []Field{F("state", "online"), F("jid", info.JID), F("addr", info.Login.Addr), F("sm", info.Login.SM)}
		if e.SinceResume > 0 {
			f = append(f, F("ms", chatMillis(e.SinceResume)))
		}
		text := ""
		if !first {
			text = "online again"
			if e.SinceResume > 0 {
				text += " " + chatDuration(e.SinceResume).String() + " after the wake-up"
			}
		}
		o.Status("state", text, f...)
		if first {
			close(l.online)
		}
	case driver.Resuming, driver.Reconnecting:
		f := []Field{F("state", e.State.String())}
		text := "probing the connection"
		if e.State == driver.Reconnecting {
			text = "reconnecting"
		}
		if t := errText(e.Err); t != "" {
			f = append(f, F("error", t))
			text += " (" + sanitize(t) + ")"
		}
		o.Status("state", text, f...)
	}
}

// offline reports the offline state once, at the end.
func (l *listening) offline(reason string) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	j := l.bound
	if j == "" {
		j = l.jid
	}
	l.mu.Unlock()
	f := []Field{F("state", "offline"), F("jid", j)}
	if reason != "" {
		f = append(f, F("error", reason))
	}
	l.o.Status("state", "", f...)
}

func (l *listening) received() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *listening) boundJID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bound
}

func (l *listening) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loginErr
}

// loginError explains a first login that failed (err unwrapped from the
// client's PermanentError).
func (l *listening) loginError(err error) error {
	var pe *reconnect.PermanentError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err == nil {
		err = errors.New("login failed")
	}
	return connectError(l.jid, l.addr, err)
}

// printMessage reports one incoming message.
func printMessage(o *output, m session.Message) {
	if o.JSON() {
		fields := []Field{F("from", m.From), F("to", m.To), F("body", m.Body), F("id", m.ID), F("delayed", m.Delayed())}
		if m.Delayed() {
			fields = append(fields, F("delay", m.Delay.UTC().Format(timeFormat)))
		}
		o.Event("message", "", fields...)
		return
	}
	at := time.Now()
	from := m.From
	if m.Delayed() {
		at = m.Delay
		from += " (delayed)"
	}
	o.Event("message", fmt.Sprintf("[%s] %s: %s", at.Local().Format(time.TimeOnly), sanitize(from), sanitizeBody(m.Body)))
}
