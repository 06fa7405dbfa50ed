package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// termUI is the interactive chat on a terminal: a term.Terminal edits the
// input line, and everything shown goes through its Write, which clears
// the prompt and the line being typed, prints, then redraws them intact
// with the cursor where it was. keyReader reads the keys (see
// chat_keys.go), editor adds completion, reverse search and the history
// file to the Terminal's editing (chat_editor.go, chat_history.go).
//
// The interface with chat.go: source().ReadLine returns a line typed, or
// io.EOF for Ctrl-D on an empty line and for Ctrl-C, which interrupted()
// then tells apart; interrupts() receives a value for every Ctrl-C typed,
// also while no line is read (a command runs, the chat is leaving), since
// the raw terminal sends no SIGINT.
type termUI struct {
	textUI
	t     *term.Terminal
	ed    *editor
	hist  *lineHistory
	file  *os.File
	fd    int
	saved *term.State
	keys  *keyReader
	base  *slog.Logger
	stop  func()

	mu    sync.Mutex
	state driver.State
	peer  string
	done  bool // leaving: no prompt any more
}

// termOptions are the interactive chat's settings.
type termOptions struct {
	// historyFile keeps the lines entered across runs; "" keeps them in
	// memory only.
	historyFile string
	// secret reports a line never to write to the history (it contains
	// the password).
	secret func(string) bool
}

// newTermUI puts the terminal in raw mode and sets up line editing. close
// restores it.
func newTermUI(in, out *os.File, p palette, base *slog.Logger, jid, addr string, opts termOptions) (*termUI, error) {
	fd := int(in.Fd())
	saved, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("setting up the terminal: %w", err)
	}
	keys := newKeyReader(in)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{keys, out}, "")
	hist, histErr := openHistory(opts.historyFile, opts.secret)
	u := &termUI{t: t, ed: newEditor(t, hist), hist: hist, file: out, fd: fd, saved: saved, keys: keys, base: base, state: driver.Connecting}
	u.textUI = textUI{out: t, notes: t, p: p, in: termLines{t}, jid: jid, addr: addr}
	u.ed.pasted, u.ed.warn = keys.paste, u.warn
	t.SetBracketedPasteMode(true)
	u.resize()
	u.stop = watchResize(u.resize)
	u.refresh()
	if histErr != nil {
		u.warn(histErr.Error() + "; the history is kept in memory only")
	}
	return u, nil
}

// termLines reads lines from the Terminal; a line break pasted into a line
// (shown as pasteBreak) is a line break of the message.
type termLines struct{ t *term.Terminal }

func (l termLines) ReadLine() (string, error) {
	line, err := l.t.ReadLine()
	return strings.ReplaceAll(line, string(pasteBreak), "\n"), err
}

// resize tells the line editor the terminal's size.
func (u *termUI) resize() {
	if w, h, err := term.GetSize(int(u.file.Fd())); err == nil {
		_ = u.t.SetSize(w, h)
	}
}

// logger writes logs above the input line too, dimmed, at the level of
// --log-level.
func (u *termUI) logger() *slog.Logger {
	lvl := slog.LevelError
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if u.base != nil && u.base.Enabled(context.Background(), l) {
			lvl = l
			break
		}
	}
	return slog.New(slog.NewTextHandler(dimWriter{u.t, u.p}, &slog.HandlerOptions{Level: lvl}))
}

// dimWriter paints each line written (slog writes one record per call).
type dimWriter struct {
	w io.Writer
	p palette
}

func (d dimWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(d.w, d.p.paint(d.p.dim, string(bytes.TrimSuffix(b, []byte("\n"))))+"\n"); err != nil {
		return 0, err
	}
	return len(b), nil
}

// prompt is "[state] peer> ".
func (u *termUI) prompt() string {
	p := "[" + u.p.paint(u.p.stateColor(u.state), u.state.String()) + "]"
	if u.peer != "" {
		p += " " + sanitize(u.peer)
	}
	return p + "> "
}

// refresh sets the prompt; the next write redraws it.
func (u *termUI) refresh() {
	u.mu.Lock()
	p := u.prompt()
	if u.done {
		p = ""
	}
	u.mu.Unlock()
	u.ed.setPrompt(p)
}

func (u *termUI) event(e driver.Event) {
	switch e := e.(type) {
	case driver.StateChanged:
		u.mu.Lock()
		u.state = e.State
		u.mu.Unlock()
		u.refresh()
	case driver.Received:
		u.ed.addJID(e.Message.From)
	case driver.Sent:
		u.ed.addJID(e.Message.To)
	}
	u.textUI.event(e)
}

func (u *termUI) setPeer(jid string) {
	u.mu.Lock()
	u.peer = jid
	u.mu.Unlock()
	u.ed.addJID(jid)
	u.refresh()
}

func (u *termUI) quit(reason string) {
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	u.refresh()
	u.textUI.quit(reason)
}

func (u *termUI) interrupted() bool { return u.keys.hit.Load() }

func (u *termUI) interrupts() <-chan struct{} { return u.keys.intr }

// close removes what is left of the prompt, restores the terminal and
// closes the history file.
func (u *termUI) close() {
	u.stop()
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	u.refresh()
	u.t.SetBracketedPasteMode(false)
	_, _ = u.t.Write(nil)
	_, _ = io.WriteString(u.file, "\r\x1b[K")
	_ = term.Restore(u.fd, u.saved)
	if err := u.hist.Close(); err != nil {
		_, _ = io.WriteString(u.file, u.p.paint(u.p.yellow, "warning: writing the history: "+sanitize(err.Error()))+"\n")
	}
}

// termOptions returns the interactive chat's settings: the history file
// unless --no-history, and the password kept out of it.
func (c *chat) termOptions(password string) termOptions {
	o := termOptions{secret: func(line string) bool {
		if len(password) < 4 {
			return password != "" && strings.TrimSpace(line) == password
		}
		return strings.Contains(line, password)
	}}
	if !c.opts.NoHistory {
		if p, err := historyPath(c.opts.Getenv); err == nil {
			o.historyFile = p
		}
	}
	return o
}
