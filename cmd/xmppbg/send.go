package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/session"
)

// Defaults of the send command.
const (
	// defaultSendTimeout bounds connecting, sending and waiting for the
	// server's acknowledgement.
	defaultSendTimeout = 30 * time.Second
	// closeTimeout bounds closing the stream cleanly once the work is done.
	closeTimeout = 5 * time.Second
	// maxStdinText bounds a message text read from stdin.
	maxStdinText = 256 << 10
)

// sendOptions are the send command's options.
type sendOptions struct {
	*globalOptions

	To      string
	Text    []string
	Timeout time.Duration
}

// newCmdSend returns the send command. runF does the work (runSend when nil);
// tests pass their own to check the parsed options.
func newCmdSend(g *globalOptions, runF func(context.Context, *sendOptions) error) *cobra.Command {
	opts := &sendOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "send TO TEXT...",
		Short: "Send a chat message and wait until the server acknowledged it",
		Long: `Send one chat message to TO and wait until the server acknowledged it
(XEP-0198 stream management), then close the stream cleanly.

The TEXT words are joined by spaces; a single "-" reads the text from stdin.
When the server offers no stream management, the message is sent but cannot
be acknowledged: xmppbg warns and exits 0.`,
		Example: `  XMPPBG_PASSWORD=secret xmppbg send --jid alice@example.org bob@example.org hello there
  echo hello | xmppbg send --jid alice@example.org --password-file ~/.xmppbg-pw bob@example.org -`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			opts.To, opts.Text = args[0], args[1:]
			if opts.Timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSend(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", defaultSendTimeout, "give up when the message is not acknowledged within `DURATION` (connecting included)")
	return cmd
}

// text returns the message text: the words joined by spaces, or stdin for "-".
func (opts *sendOptions) text() (string, error) {
	if len(opts.Text) == 1 && opts.Text[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(opts.IO.In, maxStdinText+1))
		if err != nil {
			return "", fmt.Errorf("reading the text from stdin: %w", err)
		}
		if len(b) > maxStdinText {
			return "", usageErrorf("the text on stdin is longer than %d bytes", maxStdinText)
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if text == "" {
			return "", usageErrorf("empty text on stdin")
		}
		return text, nil
	}
	text := strings.Join(opts.Text, " ")
	if strings.TrimSpace(text) == "" {
		return "", usageErrorf("empty text")
	}
	return text, nil
}

// runSend connects, sends one message, waits for the server's
// acknowledgement and closes the stream.
func runSend(ctx context.Context, opts *sendOptions) error {
	o := opts.Output()
	if opts.To == "" {
		return usageErrorf("empty recipient")
	}
	if _, _, _, err := opts.account(); err != nil {
		return err
	}
	text, err := opts.text()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	s, err := opts.connect(ctx, nil)
	if err != nil {
		return err
	}
	closeSession := func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer ccancel()
		_ = s.Close(cctx)
		opts.offline(s, "")
	}

	m, err := s.SendMessage(ctx, session.Message{To: opts.To, Type: "chat", Body: text})
	if err != nil {
		s.Abort()
		opts.offline(s, err.Error())
		return &cliError{msg: "sending to " + opts.To + ": " + strings.TrimPrefix(err.Error(), "session: "), err: err}
	}
	o.Event("sent", "", F("id", m.ID), F("to", m.To))

	err = s.WaitAcked(ctx, m.ID)
	switch {
	case err == nil:
		o.Event("acked", fmt.Sprintf("sent to %s (id %s), acknowledged by the server", m.To, m.ID), F("ids", []string{m.ID}))
		closeSession()
		return nil
	case errors.Is(err, session.ErrNoStreamManagement):
		// connect has already warned (session.Warning).
		o.Event("unacked", fmt.Sprintf("sent to %s (id %s), not acknowledged: the server has no stream management", m.To, m.ID), F("ids", []string{m.ID}), F("reason", "no stream management"))
		closeSession()
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		s.Abort()
		opts.offline(s, "")
		return &cliError{msg: fmt.Sprintf("the server did not acknowledge message %s to %s within %s (it may or may not have been delivered)", m.ID, m.To, opts.Timeout), err: errTimeout}
	case errors.Is(err, context.Canceled):
		s.Abort()
		opts.offline(s, "")
		return &cliError{msg: fmt.Sprintf("interrupted before the server acknowledged message %s to %s", m.ID, m.To), err: err}
	}
	s.Abort()
	opts.offline(s, "")
	reason := s.Err()
	if reason == nil {
		reason = err
	}
	return &cliError{msg: fmt.Sprintf("the connection ended before the server acknowledged message %s to %s: %s", m.ID, m.To, strings.TrimPrefix(reason.Error(), "session: ")), err: err}
}
