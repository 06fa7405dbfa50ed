package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/term"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// termUI is the interactive chat on a terminal: a term.Terminal edits the
// input line (with history), and everything shown goes through its Write,
// which clears the prompt and the line being typed, prints, then redraws
// them intact with the cursor where it was.
type termUI struct {
	textUI
	t     *term.Terminal
	file  *os.File
	fd    int
	saved *term.State
	keys  *interruptReader
	base  *slog.Logger
	stop  func()

	mu    sync.Mutex
	state driver.State
	peer  string
	done  bool // leaving: no prompt any more
}

// newTermUI puts the terminal in raw mode and sets up line editing. close
// restores it.
func newTermUI(in, out *os.File, p palette, base *slog.Logger, jid, addr string) (*termUI, error) {
	fd := int(in.Fd())
	saved, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("setting up the terminal: %w", err)
	}
	keys := &interruptReader{r: in}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{keys, out}, "")
	u := &termUI{t: t, file: out, fd: fd, saved: saved, keys: keys, base: base, state: driver.Connecting}
	u.textUI = textUI{out: t, notes: t, p: p, in: t, jid: jid, addr: addr}
	u.resize()
	u.stop = watchResize(u.resize)
	u.refresh()
	return u, nil
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
	defer u.mu.Unlock()
	if u.done {
		u.t.SetPrompt("")
		return
	}
	u.t.SetPrompt(u.prompt())
}

func (u *termUI) event(e driver.Event) {
	if sc, ok := e.(driver.StateChanged); ok {
		u.mu.Lock()
		u.state = sc.State
		u.mu.Unlock()
		u.refresh()
	}
	u.textUI.event(e)
}

func (u *termUI) setPeer(jid string) {
	u.mu.Lock()
	u.peer = jid
	u.mu.Unlock()
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

// close removes what is left of the prompt and restores the terminal.
func (u *termUI) close() {
	u.stop()
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	u.refresh()
	_, _ = u.t.Write(nil)
	_, _ = io.WriteString(u.file, "\r\x1b[K")
	_ = term.Restore(u.fd, u.saved)
}

// interruptReader notes a Ctrl-C among the keys read: term.Terminal turns
// it into io.EOF, like Ctrl-D, but it asks to leave at once.
type interruptReader struct {
	r   io.Reader
	hit atomic.Bool
}

func (r *interruptReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if bytes.IndexByte(p[:n], 3) >= 0 {
		r.hit.Store(true)
	}
	return n, err
}
