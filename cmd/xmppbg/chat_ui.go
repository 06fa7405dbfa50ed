package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// lineSource yields lines of input, without their line ending; io.EOF at
// the end. term.Terminal is one.
type lineSource interface {
	ReadLine() (string, error)
}

// errLineTooLong is returned (once per line) for a line longer than
// maxChatLine; reading goes on with the next line.
var errLineTooLong = errors.New("line too long")

// lineReader reads lines from an io.Reader, bounding their length.
type lineReader struct{ r *bufio.Reader }

func newLineReader(r io.Reader) *lineReader { return &lineReader{bufio.NewReader(r)} }

// ReadLine returns the next line. A last line without a newline is
// returned before io.EOF.
func (lr *lineReader) ReadLine() (string, error) {
	var (
		line    []byte
		tooLong bool
	)
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(line)+len(chunk) > maxChatLine+2 {
			tooLong = true
			line = line[:0]
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (len(line) == 0 && !tooLong || !errors.Is(err, io.EOF)) {
			return "", err
		}
		break
	}
	if tooLong {
		return "", errLineTooLong
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
}

// inputLine is one line of input, or the error that ended it.
type inputLine struct {
	text string
	err  error
}

// readInput reads a line from src each time want receives a value, and
// sends it on lines, so that nothing is read (and no prompt drawn) while a
// command runs. It stops after an error that ends the input or when stop
// is closed.
func readInput(src lineSource) (lines <-chan inputLine, want chan<- struct{}, stop chan struct{}) {
	l := make(chan inputLine)
	w := make(chan struct{}, 1)
	stop = make(chan struct{})
	go func() {
		for {
			select {
			case <-w:
			case <-stop:
				return
			}
			text, err := src.ReadLine()
			if err != nil && text != "" && !errors.Is(err, io.EOF) {
				err = nil // e.g. a paste indicator: the line is good
			}
			select {
			case l <- inputLine{text: text, err: err}:
			case <-stop:
				return
			}
			if err != nil && !errors.Is(err, errLineTooLong) {
				return
			}
		}
	}()
	return l, w, stop
}

// jsonUI writes JSON lines (see the chat command's documentation) and reads
// commands line by line.
type jsonUI struct {
	o         *output
	in        lineSource
	jid, addr string
}

func (u *jsonUI) source() lineSource   { return u.in }
func (u *jsonUI) logger() *slog.Logger { return nil }
func (u *jsonUI) setPeer(string)       {}
func (u *jsonUI) interrupted() bool    { return false }

func (u *jsonUI) interrupts() <-chan struct{} { return nil }
func (u *jsonUI) close()                      {}

func (u *jsonUI) event(e driver.Event) {
	o := u.o
	switch e := e.(type) {
	case driver.StateChanged:
		f := []Field{F("state", e.State.String())}
		if e.State == driver.Connecting {
			f = append(f, F("jid", u.jid), F("addr", u.addr))
		}
		if e.Fresh {
			f = append(f, F("fresh", true))
		}
		if e.SinceResume > 0 {
			f = append(f, F("ms", chatMillis(e.SinceResume)))
		}
		if t := errText(e.Err); t != "" {
			f = append(f, F("error", t))
		}
		o.Event("state", "", f...)
	case driver.Resumed:
		o.Event("resumed", "", F("ms", chatMillis(e.Login)), F("attempt", e.Attempt))
	case driver.Received:
		printMessage(o, e.Message)
	case driver.Duplicate:
		o.Event("duplicate", "", F("from", e.Message.From), F("id", e.Message.ID))
	case driver.Sent:
		// The body lets a program match the line it typed with the id.
		f := []Field{F("id", e.Message.ID), F("to", e.Message.To), F("body", e.Message.Body)}
		if e.Queued {
			f = append(f, F("queued", true))
		}
		o.Event("sent", "", f...)
	case driver.Acked:
		o.Event("acked", "", F("ids", chatIDs(e.IDs)))
	case driver.Resent:
		o.Event("resent", "", F("ids", chatIDs(e.IDs)), F("delayed", e.Delayed))
	case driver.Dead:
		f := []Field{F("probe", e.ByProbe)}
		if e.ByProbe {
			f = append(f, F("ms", chatMillis(e.Took)))
		}
		o.Event("dead", "", append(f, F("error", errText(e.Err)))...)
	case driver.Retrying:
		o.Event("retry", "", F("attempt", e.Attempt), F("ms", chatMillis(e.Delay)), F("error", errText(e.Err)))
	case driver.Woke:
		o.Event("woke", "", wokeFields(e)...)
	case driver.Lifecycle:
		o.Event("lifecycle", "", F("text", e.String()))
	case driver.Warning:
		if e.Reason == driver.WarnStanzaSkipped {
			// A stanza skipped is its own event, with what is known of
			// it, so that a program can count them (the soak does).
			_, _ = io.WriteString(o.Stderr(), "xmppbg: warning: "+sanitize(e.String())+"\n")
			k := e.Stanza
			o.Event("skipped", "", F("kind", k.Kind), F("id", k.ID), F("from", k.From), F("reason", k.Reason.String()))
			break
		}
		o.Warn(e.String())
	case driver.Undelivered:
		u.errorEvent(e.String(), F("ids", []string{e.Stanza.ID}))
	case driver.Bounced:
		o.Event("bounced", "", F("id", e.ID), F("from", e.From), F("condition", e.Condition), F("text", e.Text))
	case driver.Contact:
		o.Event("presence", "", F("from", e.JID), F("online", e.Online))
	}
}

// wokeFields are the JSON fields of a wake-up: cause, action, and the
// detector's measures when it has them.
func wokeFields(e driver.Woke) []Field {
	f := []Field{F("cause", e.Cause.String()), F("action", e.Action.String())}
	if e.Slept > 0 {
		f = append(f, F("slept_ms", chatMillis(e.Slept)))
	}
	if e.Late > 0 {
		f = append(f, F("late_ms", chatMillis(e.Late)))
	}
	return f
}

// errText is an error's text without package prefixes, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return userText(err)
}

// errorEvent reports an error that does not end the chat: on stderr, and
// as an "error" event without "code" on stdout.
func (u *jsonUI) errorEvent(msg string, fields ...Field) {
	_, _ = io.WriteString(u.o.Stderr(), "xmppbg: error: "+msg+"\n")
	u.o.Event("error", "", append([]Field{F("error", msg)}, fields...)...)
}

func (u *jsonUI) quit(reason string) { u.o.Event("quit", "", F("reason", reason)) }

func (u *jsonUI) reply(cmd driver.Command, text string) {
	switch {
	case cmd.Op == driver.OpTo:
		u.o.Event("peer", "", F("peer", cmd.To))
	case cmd.Op == driver.OpHelp:
		u.o.Event("help", "", F("text", text))
	case text != "":
		u.o.Event("info", "", F("text", text))
	}
}

func (u *jsonUI) status(st driver.Status) {
	u.o.Event("status", "", F("app", st.App.String()), F("connection", st.Client.String()), F("peer", st.Peer), F("jid", st.JID),
		F("sm", st.SM), F("resumable", st.Resumable), F("unacked", st.Unacked), F("queued", st.Queued))
}

func (u *jsonUI) commandError(input string, err error) {
	u.errorEvent(err.Error(), F("input", input))
}

func (u *jsonUI) warn(text string) { u.o.Warn(text) }

// palette holds the ANSI sequences of the human output; all empty without
// colours.
type palette struct {
	dim, bold, red, green, yellow, cyan, reset string
}

func newPalette(color bool) palette {
	if !color {
		return palette{}
	}
	return palette{dim: "\x1b[2m", bold: "\x1b[1m", red: "\x1b[31m", green: "\x1b[32m",
		yellow: "\x1b[33m", cyan: "\x1b[36m", reset: "\x1b[0m"}
}

// paint wraps s in the style code (nothing without colours).
func (p palette) paint(code, s string) string {
	if code == "" || p.reset == "" {
		return s
	}
	return code + s + p.reset
}

// stateColor is the colour of a connection state.
func (p palette) stateColor(state driver.State) string {
	switch state {
	case driver.Online:
		return p.green
	case driver.Offline:
		return p.red
	}
	return p.yellow
}

// textUI writes human text: messages and command results to out, what
// happens to the connection to notes. Network text is sanitized.
type textUI struct {
	out, notes io.Writer
	p          palette
	in         lineSource
	jid, addr  string
}

func (u *textUI) source() lineSource   { return u.in }
func (u *textUI) logger() *slog.Logger { return nil }
func (u *textUI) setPeer(string)       {}
func (u *textUI) interrupted() bool    { return false }

func (u *textUI) interrupts() <-chan struct{} { return nil }
func (u *textUI) close()                      {}

func (u *textUI) event(e driver.Event) {
	line, status := u.format(e)
	w := u.out
	if status {
		w = u.notes
	}
	_, _ = io.WriteString(w, line+"\n")
}

// format returns the text of an event, and whether it is a status line.
func (u *textUI) format(e driver.Event) (string, bool) {
	p := u.p
	switch e := e.(type) {
	case driver.StateChanged:
		s := "-- " + e.State.String()
		switch e.State {
		case driver.Connecting:
			s += " as " + u.jid + " to " + u.addr
		case driver.Online:
			if e.Fresh {
				s += " in a new session (the old stream could not be resumed)"
			}
			if e.SinceResume > 0 {
				s += ", " + chatDuration(e.SinceResume).String() + " after /resume"
			}
		}
		if t := errText(e.Err); t != "" {
			s += ": " + sanitize(t)
		}
		return p.paint(p.stateColor(e.State), s), true
	case driver.Resumed:
		return p.paint(p.green, "-- stream resumed in "+chatDuration(e.Login).String()+": nothing lost"), true
	case driver.Received:
		m := e.Message
		at, from := time.Now(), sanitize(m.From)
		if m.Delayed() {
			at, from = m.Delay, from+" (delayed)"
		}
		return fmt.Sprintf("[%s] %s %s", at.Local().Format(time.TimeOnly), p.paint(p.bold+p.cyan, from+":"), sanitizeBody(m.Body)), false
	case driver.Duplicate:
		return p.paint(p.dim, "   dropped a second copy of message "+sanitize(e.Message.ID)+" from "+sanitize(e.Message.From)), false
	case driver.Sent:
		if e.Queued {
			return p.paint(p.dim, "   queued for "+sanitize(e.Message.To)+" until online (id "+e.Message.ID+")"), false
		}
		return p.paint(p.dim, "   sent to "+sanitize(e.Message.To)+" (id "+e.Message.ID+")"), false
	case driver.Acked:
		return p.paint(p.dim, "   ✓ acknowledged: "+strings.Join(e.IDs, ", ")), false
	case driver.Resent:
		s := "   sent again: " + strings.Join(e.IDs, ", ")
		if e.Delayed {
			s += " (marked delayed)"
		}
		return p.paint(p.dim, s), false
	case driver.Dead:
		s := "-- connection dead"
		if e.ByProbe {
			s += " (no answer to the probe in " + chatDuration(e.Took).String() + ")"
		}
		return p.paint(p.yellow, s+": "+sanitize(errText(e.Err))), true
	case driver.Woke:
		return p.paint(p.yellow, "-- "+e.String()), true
	case driver.Retrying:
		return p.paint(p.yellow, fmt.Sprintf("-- login attempt %d failed (%s); next in %s", e.Attempt, sanitize(errText(e.Err)), chatDuration(e.Delay))), true
	case driver.Lifecycle:
		return p.paint(p.dim, "-- "+e.String()), true
	case driver.Warning:
		return p.paint(p.yellow, "warning: "+sanitize(e.String())), true
	case driver.Undelivered:
		return p.paint(p.red, "error: "+sanitize(e.String())), true
	case driver.Bounced:
		return p.paint(p.red, "error: "+sanitize(e.String())), true
	case driver.Contact:
		if e.Online {
			return p.paint(p.dim, "-- "+sanitize(e.JID)+" is online"), true
		}
		return p.paint(p.dim, "-- "+sanitize(e.JID)+" is offline"), true
	}
	return fmt.Sprintf("-- %T", e), true
}

func (u *textUI) quit(reason string) {
	s := "-- leaving: waiting for the server to acknowledge what was sent"
	if reason == quitSignal || reason == quitInterrupt {
		s = "-- interrupted: leaving now"
	}
	_, _ = io.WriteString(u.notes, u.p.paint(u.p.dim, s)+"\n")
}

func (u *textUI) reply(cmd driver.Command, text string) {
	if text != "" {
		// xmppbg's own lines (help, status), which may quote a JID.
		_, _ = io.WriteString(u.out, sanitizeLines(text, "\n")+"\n")
	}
}

func (u *textUI) status(st driver.Status) {
	peer := st.Peer
	if peer == "" {
		peer = "(none: /to JID)"
	}
	jid := st.JID
	if jid == "" {
		jid = "(not logged in)"
	}
	_, _ = fmt.Fprintf(u.out, "app %s, connection %s, peer %s, jid %s, stream management %t, resumable %t, %d unacknowledged, %d queued\n",
		st.App, st.Client, sanitize(peer), sanitize(jid), st.SM, st.Resumable, st.Unacked, st.Queued)
}

func (u *textUI) commandError(input string, err error) {
	_, _ = io.WriteString(u.notes, u.p.paint(u.p.red, "error: "+sanitize(err.Error()))+"\n")
}

func (u *textUI) warn(text string) {
	_, _ = io.WriteString(u.notes, u.p.paint(u.p.yellow, "warning: "+sanitize(text))+"\n")
}

// chatDuration rounds d for display.
func chatDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
