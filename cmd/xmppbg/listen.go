package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/session"
)

// listenOptions are the listen command's options.
type listenOptions struct {
	*globalOptions

	// Count stops after that many messages; 0 means no limit.
	Count int
	// Timeout stops after that long; 0 means no limit.
	Timeout time.Duration
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
	return cmd
}

// runListen connects and prints incoming chat messages until ctx ends, the
// count is reached or the timeout passes.
func runListen(ctx context.Context, opts *listenOptions) error {
	o := opts.Output()
	if _, _, _, err := opts.account(); err != nil {
		return err
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}

	var (
		mu      sync.Mutex
		n       int
		reached = make(chan struct{})
	)
	onEvent := func(ev session.Event) {
		r, ok := ev.(session.Received)
		if !ok {
			return
		}
		// Messages that arrive after the count was reached, while the
		// stream closes, are printed too: the server counts them as
		// delivered, so dropping them would lose them.
		printMessage(o, r.Message)
		mu.Lock()
		n++
		if n == opts.Count {
			close(reached)
		}
		mu.Unlock()
	}

	s, err := opts.connect(ctx, onEvent)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil // interrupted while connecting
		}
		if opts.Timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
			return &cliError{msg: fmt.Sprintf("--timeout %s passed while connecting", opts.Timeout), err: errTimeout}
		}
		return err
	}
	if !o.JSON() {
		fmt.Fprintf(o.Stderr(), "Listening as %s; press Ctrl-C to stop.\n", s.JID())
	}

	closeSession := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = s.Close(cctx)
		opts.offline(s, "")
	}
	select {
	case <-reached:
		closeSession()
		return nil
	case <-s.Done():
		reason := s.Err()
		opts.offline(s, reason.Error())
		return &cliError{msg: "the connection ended: " + strings.TrimPrefix(reason.Error(), "session: "), err: reason}
	case <-ctx.Done():
		closeSession()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && opts.Count > 0 {
			mu.Lock()
			got := n
			mu.Unlock()
			if got < opts.Count {
				return &cliError{msg: fmt.Sprintf("--timeout %s passed after %d of %d messages", opts.Timeout, got, opts.Count), err: errTimeout}
			}
		}
		return nil
	}
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
