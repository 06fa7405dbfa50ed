package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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
	// bounceWait bounds the wait for a bounce once the messages were
	// acknowledged: one XEP-0199 ping to the server and its answer. A
	// server handles a stream's stanzas in order, so its answer means it
	// has processed the messages, and a bounce it sent at once (an unknown
	// local user) came before it. A bounce from a remote server or from the
	// recipient's client may come later and is not waited for.
	bounceWait = 5 * time.Second
)

// sendOptions are the send command's options.
type sendOptions struct {
	*globalOptions

	// To lists the recipients, in order; Text the words of the message
	// (empty: read stdin).
	To      []string
	Text    []string
	Timeout time.Duration
}

// newCmdSend returns the send command. runF does the work (runSend when nil);
// tests pass their own to check the parsed options.
func newCmdSend(g *globalOptions, runF func(context.Context, *sendOptions) error) *cobra.Command {
	opts := &sendOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "send TO [TEXT...] | send TO... -- [TEXT...]",
		Short: "Send a chat message and wait until the server acknowledged it",
		Long: `Send one chat message to TO and wait until the server acknowledged it
(XEP-0198 stream management), then wait for a bounce for one round trip and
close the stream cleanly.

The TEXT words are joined by spaces. Without TEXT, or with a single "-", the
text is read from stdin (up to 256 KiB; one trailing newline is dropped), as
in "echo hi | xmppbg send bob@example.org"; on a terminal a missing TEXT is an
error rather than a wait. To send one text to several recipients, list them
before "--": xmppbg send bob@example.org carol@example.org -- hello. A text
larger than servers take in one message (255 KiB as sent, where ' and "
count 5 bytes each) is refused before logging in (exit 2).

Recipients are checked before anything is sent: each must be a JID of the
form user@domain[/resource] (RFC 7622); a JID without "@" names a server, not
an account, and is refused (exit 2).

send logs in without an initial presence, so the server does not hand it the
messages waiting for the account (offline storage): they stay for the next
"xmppbg listen" or chat client.

After the acknowledgement, which says only that the server has the message,
send pings the server (XEP-0199) and waits for its answer, at most 5s: the
server handles a stream's stanzas in order, so by then it has routed the
message, and an error reply it sent at once (an unknown local user, as
Prosody and ejabberd do) has arrived. Such a bounce is reported and the exit
status is 8. A server may also drop a message silently (RFC 6121 allows it),
and a bounce from a remote server can come later: exit 0 means acknowledged
and not bounced within that round trip, not read.

When the server offers no stream management, the messages are sent but
cannot be acknowledged: xmppbg warns and exits 0 once the ping is answered.`,
		Example: `  XMPPBG_PASSWORD=secret xmppbg send --jid alice@example.org bob@example.org hello there
  echo hello | xmppbg send --jid alice@example.org --password-file ~/.xmppbg-pw bob@example.org
  uptime | xmppbg send --jid alice@example.org bob@example.org carol@example.org --`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				opts.To, opts.Text = args[:dash], args[dash:]
			} else {
				opts.To, opts.Text = args[:1], args[1:]
			}
			if len(opts.To) == 0 {
				return usageErrorf("no recipient before \"--\"")
			}
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

// stdinIsTerminal reports whether stdin is a terminal.
func (g *globalOptions) stdinIsTerminal() bool {
	f, ok := g.IO.In.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// text returns the message text: the words joined by spaces, or stdin for
// "-" or no words.
func (opts *sendOptions) text() (string, error) {
	if len(opts.Text) == 0 && opts.stdinIsTerminal() {
		return "", usageErrorf("no text: give it after the recipient, or pipe it on stdin")
	}
	if len(opts.Text) == 0 || len(opts.Text) == 1 && opts.Text[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(opts.IO.In, maxStdinText+1))
		if err != nil {
			return "", fmt.Errorf("reading the text from stdin: %w", err)
		}
		if len(b) > maxStdinText {
			return "", usageErrorf("the text on stdin is longer than %d bytes", maxStdinText)
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if strings.TrimSpace(text) == "" {
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

// bounces collects the error replies to the messages sent.
type bounces struct {
	mu sync.Mutex
	m  map[string]session.Bounced
}

func (b *bounces) event(ev session.Event) {
	if e, ok := ev.(session.Bounced); ok {
		b.mu.Lock()
		if b.m == nil {
			b.m = map[string]session.Bounced{}
		}
		if _, dup := b.m[e.ID]; !dup {
			b.m[e.ID] = e
		}
		b.mu.Unlock()
	}
}

func (b *bounces) get(id string) (session.Bounced, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[id]
	return e, ok
}

// sendSession adjusts the configuration of send's session. No initial
// presence: the server keeps the account's offline messages for a client
// that reads them. No ack timeout: send has one session and resends
// nothing, so --timeout alone bounds the wait for the acknowledgement (a
// message not acknowledged in time is exit 6, as the help says, not a
// connection error after the session's 10 s).
func sendSession(c *session.Config) {
	c.NoPresence = true
	c.AckTimeout = -1
}

// runSend connects without presence, sends the message to every recipient,
// waits for the server's acknowledgements and for a bounce (one round
// trip), and closes the stream.
func runSend(ctx context.Context, opts *sendOptions) error {
	o := opts.Output()
	for _, to := range opts.To {
		if err := checkAddress("recipient", to); err != nil {
			return err
		}
	}
	jid, _, _, err := opts.account()
	if err != nil {
		return err
	}
	text, err := opts.text()
	if err != nil {
		return err
	}
	// Refused before logging in: a server closes the connection on a
	// stanza above its limit.
	for _, to := range opts.To {
		m := session.Message{ID: session.NewID(), To: to, Type: "chat", Body: text}
		m.OriginID = m.ID
		var tl *session.TooLargeError
		if errors.As(session.CheckSize(m, jid, 0), &tl) {
			return usageErrorf("the text is too long for one message: %d bytes as sent, and servers take at most %d", tl.Size, tl.Max)
		}
	}

	sigCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var bounced bounces
	s, err := opts.connect(ctx, bounced.event, sendSession)
	if err != nil {
		return err
	}
	// abort ends the session at once, after an error.
	abort := func(reason string) {
		s.Abort()
		opts.offline(s, reason)
	}

	var sent []session.Message
	for _, to := range opts.To {
		m, err := s.SendMessage(ctx, session.Message{To: to, Type: "chat", Body: text})
		if err != nil {
			abort(err.Error())
			return &cliError{msg: "sending to " + to + ": " + userText(err), err: err}
		}
		o.Event("sent", "", F("id", m.ID), F("to", m.To))
		sent = append(sent, m)
	}

	noSM := false
	for _, m := range sent {
		err := s.WaitAcked(ctx, m.ID)
		switch {
		case err == nil:
			continue
		case errors.Is(err, session.ErrNoStreamManagement):
			// connect has already warned (session.Warning).
			noSM = true
			continue
		case errors.Is(err, context.DeadlineExceeded):
			abort("")
			return &cliError{msg: fmt.Sprintf("the server did not acknowledge message %s to %s within %s (it may or may not have been delivered)", m.ID, m.To, opts.Timeout), err: errTimeout}
		case errors.Is(err, context.Canceled):
			abort("")
			return &cliError{msg: fmt.Sprintf("interrupted before the server acknowledged message %s to %s", m.ID, m.To), err: err}
		}
		abort("")
		reason := s.Err()
		if reason == nil {
			reason = err
		}
		return &cliError{msg: fmt.Sprintf("the connection ended before the server acknowledged message %s to %s: %s", m.ID, m.To, userText(reason)), err: err}
	}

	// One round trip for a bounce (see bounceWait).
	pctx, pcancel := context.WithTimeout(ctx, bounceWait)
	perr := s.Ping(pctx)
	pcancel()
	switch {
	case perr == nil:
	case sigCtx.Err() != nil:
		o.Warn("interrupted while waiting for a bounce: the messages were acknowledged, a bounce may still come")
	case errors.Is(perr, context.DeadlineExceeded):
		o.Warn(fmt.Sprintf("the server did not answer a ping within %s: a bounce may still come", bounceWait))
	default:
		o.Warn("waiting for a bounce: " + userText(perr))
	}

	var failed []string
	for _, m := range sent {
		if b, ok := bounced.get(m.ID); ok {
			o.Event("bounced", "", F("id", m.ID), F("to", m.To), F("from", b.From), F("condition", b.Condition), F("text", b.Text))
			failed = append(failed, fmt.Sprintf("message %s to %s bounced: %s", m.ID, m.To, bounceText(b)))
			continue
		}
		if noSM {
			o.Event("unacked", fmt.Sprintf("sent to %s (id %s), not acknowledged: the server has no stream management", m.To, m.ID), F("ids", []string{m.ID}), F("reason", "no stream management"))
			continue
		}
		o.Event("acked", fmt.Sprintf("sent to %s (id %s), acknowledged by the server", m.To, m.ID), F("ids", []string{m.ID}))
	}

	// Close cleanly, but not for long after an interrupt.
	wait := closeTimeout
	if sigCtx.Err() != nil {
		wait = interruptTimeout
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	_ = s.Close(cctx)
	ccancel()
	opts.offline(s, "")

	if len(failed) > 0 {
		return &cliError{msg: strings.Join(failed, "; "), err: errBounced}
	}
	return nil
}

// errBounced is wrapped by the error of a send whose message bounced.
var errBounced = errors.New("bounced")

// bounceText explains a bounce to the user.
func bounceText(b session.Bounced) string {
	var why string
	switch b.Condition {
	case "service-unavailable":
		why = "the recipient does not exist or does not take messages"
	case "item-not-found", "recipient-unavailable":
		why = "no such recipient"
	case "remote-server-not-found":
		why = "the recipient's server cannot be found"
	case "remote-server-timeout":
		why = "the recipient's server did not answer"
	case "not-authorized", "forbidden", "not-allowed":
		why = "the recipient's server refused it"
	}
	s := sanitize(b.Condition)
	if why != "" {
		s = why + " (" + s + ")"
	}
	if b.Text != "" {
		s += ": " + sanitize(b.Text)
	}
	return s
}

// userText is an error's text without the library's package prefixes
// ("reconnect: not retrying: session: authentication failed" becomes "not
// retrying: authentication failed"): they name Go packages, not anything
// the user knows.
func userText(err error) string {
	s := err.Error()
	for _, p := range []string{"session: ", "reconnect: ", "driver: ", "suspend: "} {
		s = strings.TrimPrefix(s, p)
		s = strings.ReplaceAll(s, ": "+p, ": ")
	}
	return s
}
