package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

func TestKeyDecoder(t *testing.T) {
	t.Parallel()
	mk, bs := string(markKey), string(markBackspace)
	for _, tc := range []struct {
		name, in, want string
		intr           int
	}{
		{"text", "héllo", "héllo", 0},
		{"home end as tmux sends them", "\x1b[1~a\x1b[4~", mk + seqHome + "a" + mk + seqEnd, 0},
		{"home end, xterm application mode", "\x1bOH\x1bOF", mk + seqHome + mk + seqEnd, 0},
		{"alt-b alt-f", "\x1bb\x1bf", seqWordLeft + seqWordRight, 0},
		{"ctrl-arrows", "\x1b[1;5D\x1b[1;5C", seqWordLeft + seqWordRight, 0},
		{"backspace", "a\x7f\x08", "a" + bs + bs, 0},
		{"enter, crlf once", "a\r\nb\r", "a" + mk + "\rb" + mk + "\r", 0},
		{"ctrl keys the terminal edits with", "\x01\x05\x15", mk + "\x01" + mk + "\x05" + mk + "\x15", 0},
		{"callback keys", "\t\x12\x07", "\t\x12\x07", 0},
		{"ctrl-c", "ab\x03", "ab\x03", 1},
		{"unknown sequences dropped", "\x1b[15~x\x1b[1;2Ay\x1bOPz", "xyz", 0},
		{"other control keys dropped", "\x00\x16\x1ca", "a", 0},
		{"paste is text", "\x1b[200~one\r\ntwo\nthree\x03\x1b[A\tx\x1b[201~\r",
			"one" + string(pasteBreak) + "two" + string(pasteBreak) + "three[A x" + mk + "\r", 0},
		// The marks are the decoder's own: text that holds them (pasted,
		// or from an input method) must not act as keys.
		{"marks in a paste are text", "\x1b[200~ab\ue001\ue000\ue002\ue003\ue004\ue005\x1b[201~", "ab\ufffd\ufffd\ufffd\ufffd\ufffd\ue005", 0},
		{"a paste cut by reads keeps its characters", "\x1b[200~é€😀\x1b[201~x", "é€😀x", 0},
		{"marks typed are text", "a\ue001b", "a\ufffdb", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d keyDecoder
			out, intr := d.decode([]byte(tc.in))
			out = expandPastes(t, out, d.takePastes(), true)
			if string(out) != tc.want || intr != tc.intr {
				t.Errorf("decode(%q) = %q, %d; want %q, %d", tc.in, out, intr, tc.want, tc.intr)
			}
			// The same, one byte at a time: sequences split across reads.
			var d2 keyDecoder
			var all []byte
			n := 0
			for i := range len(tc.in) {
				o, k := d2.decode([]byte{tc.in[i]})
				all = append(all, expandPastes(t, o, d2.takePastes(), true)...)
				n += k
			}
			if string(all) != tc.want || n != tc.intr {
				t.Errorf("byte by byte: %q, %d; want %q, %d", all, n, tc.want, tc.intr)
			}
		})
	}
}

// expandPastes replaces each markPaste in out by the text it stands for,
// checking that there is one text per mark, and with whole (valid UTF-8
// input) that no text is cut inside a character.
func expandPastes(t testing.TB, out []byte, pastes []string, whole bool) []byte {
	t.Helper()
	var b []byte
	for {
		i := bytes.Index(out, []byte(string(markPaste)))
		if i < 0 {
			break
		}
		if len(pastes) == 0 {
			t.Fatalf("a markPaste without its text in %q", out)
		}
		if pastes[0] == "" || (whole && !utf8.ValidString(pastes[0])) {
			t.Fatalf("paste text %q: empty or cut inside a character", pastes[0])
		}
		b = append(append(b, out[:i]...), pastes[0]...)
		pastes = pastes[1:]
		out = out[i+len(string(markPaste)):]
	}
	if len(pastes) != 0 {
		t.Fatalf("texts %q without their markPaste", pastes)
	}
	return append(b, out...)
}

func FuzzKeyDecoder(f *testing.F) {
	for _, s := range []string{"abc", "\x1b[1~", "\x1b[200~a\nb\x1b[201~", "\x1b", "\x1b[", "\x03\x7f\r\n"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		var whole, parts keyDecoder
		a, na := whole.decode(in)
		a = expandPastes(t, a, whole.takePastes(), utf8.Valid(in))
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		b1, n1 := parts.decode(in[:split])
		b1 = expandPastes(t, b1, parts.takePastes(), false)
		b2, n2 := parts.decode(in[split:])
		b2 = expandPastes(t, b2, parts.takePastes(), false)
		if !bytes.Equal(a, append(b1, b2...)) || na != n1+n2 {
			t.Fatalf("split at %d changes the keys: %q vs %q%q", split, a, b1, b2)
		}
		// Never a raw escape the Terminal would misread, except the
		// sequences the decoder writes itself.
		for _, seq := range []string{seqHome, seqEnd, "\x1b[A", "\x1b[B", "\x1b[C", "\x1b[D", "\x1b[3~"} {
			a = bytes.ReplaceAll(a, []byte(seq), nil)
		}
		if bytes.IndexByte(a, 0x1b) >= 0 {
			t.Fatalf("an escape passed through: %q", a)
		}
		if utf8.Valid(in) && !utf8.Valid(a) {
			t.Fatalf("valid text became invalid: %q", a)
		}
	})
}

func TestLineHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "xmppbg", "history")
	secret := func(l string) bool { return strings.Contains(l, "hunter22") }
	h, err := openHistory(path, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"one", "two", "two", " private", "my password is hunter22", "", "three"} {
		h.Add(l)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("history directory mode %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if string(data) != "one\ntwo\nthree\n" {
		t.Errorf("history file %q", data)
	}

	// The next run reads it; a file others can read is made private.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err = openHistory(path, secret)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 3 || h.At(0) != "three" || h.At(2) != "one" || h.At(3) != "" {
		t.Errorf("read back: %d lines, newest %q", h.Len(), h.At(0))
	}
	h.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v after reopening, want 0600", fi.Mode().Perm())
	}

	// Bounded: a long file is cut to the newest maxHistory lines.
	var b strings.Builder
	for i := range 3*maxHistory + 5 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err = openHistory(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Add("last")
	h.Close()
	if h.Len() != maxHistory || h.At(0) != "last" {
		t.Errorf("%d lines, newest %q", h.Len(), h.At(0))
	}
	data, _ = os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != maxHistory+1 {
		t.Errorf("the file has %d lines after compaction, want %d", n, maxHistory+1)
	}

	// In memory only.
	h, _ = openHistory("", nil)
	h.Add("x")
	if h.Len() != 1 || h.Close() != nil {
		t.Error("in-memory history")
	}
}

func TestHistoryPath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if p, _ := historyPath(env(map[string]string{envStateHome: "/st", "HOME": "/h"})); p != filepath.Join("/st", "xmppbg", "history") {
		t.Errorf("with XDG_STATE_HOME: %s", p)
	}
	p, _ := historyPath(env(map[string]string{envStateHome: "relative", "HOME": "/h"}))
	if p == filepath.Join("relative", "xmppbg", "history") {
		t.Errorf("a relative XDG_STATE_HOME must be ignored: %s", p)
	}
}

func TestWordMoves(t *testing.T) {
	t.Parallel()
	const line = "hello, wörld  again"
	for _, tc := range []struct{ pos, left, right int }{
		{0, 0, 5},
		{5, 0, 13},
		{7, 0, 13},
		{13, 7, 20},
		{len(line), 15, len(line)},
	} {
		if l, r := wordLeft(line, tc.pos), wordRight(line, tc.pos); l != tc.left || r != tc.right {
			t.Errorf("at %d: left %d right %d, want %d %d", tc.pos, l, r, tc.left, tc.right)
		}
	}
}

func TestEditorComplete(t *testing.T) {
	t.Parallel()
	e := &editor{}
	e.addJID("bob@example.org/phone")
	e.addJID("bea@example.org")
	e.addJID("carol@example.net")
	for _, tc := range []struct {
		line string
		pos  int
		want string
	}{
		{"/st", 3, "/status |"},
		{"/s", 2, "/s|"}, // /status, /suspend: nothing in common to add
		{"/to b", 5, "/to b|"},
		{"/to bo", 6, "/to bob@example.org |"},
		{"/msg ca hi", 7, "/msg carol@example.net| hi"},
		{"/tear bl", 8, "/tear blackhole |"},
		{"hello c", 7, "hello carol@example.net |"},
		{"/bg 1", 5, "/bg 1|"},
		{"/zz", 3, "/zz|"},
	} {
		line, pos, ok := e.complete(tc.line, tc.pos, false)
		if got := line[:pos] + "|" + line[pos:]; !ok || got != tc.want {
			t.Errorf("complete(%q, %d) = %q, want %q", tc.line, tc.pos, got, tc.want)
		}
	}
}

// editorTmux runs the real binary in tmux sessions for the line editor's
// tests.
type editorTmux struct {
	t      *testing.T
	tmux   string
	sock   string
	bin    string
	dir    string
	env    []string
	prompt string
}

func newEditorTmux(t *testing.T, pw string) *editorTmux {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is required for the interactive chat test under CI=true: install tmux (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed: skipping the interactive chat test")
	}
	dir := t.TempDir()
	// With the race detector where it builds: a report would end the chat
	// with exit 66 (and print on the screen), which the test checks against.
	x := &editorTmux{t: t, tmux: tmux, dir: dir, sock: filepath.Join(dir, "tmux.sock"), bin: integration.BuildXmppbg(t, true)}
	x.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TERM=xterm-256color", "LANG=C.UTF-8",
		envPassword + "=" + pw, envStateHome + "=" + filepath.Join(dir, "state"), "NO_COLOR=1"}
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", x.sock, "kill-server").Run() })
	return x
}

func (x *editorTmux) run(args ...string) string {
	x.t.Helper()
	cmd := exec.Command(x.tmux, append([]string{"-S", x.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = x.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// start runs a chat in a new tmux session and waits for the online prompt.
func (x *editorTmux) start(session string, srv *prosody.Server, jid, to string, extra ...string) {
	x.t.Helper()
	chat := fmt.Sprintf("%s chat --jid %s --addr %s --ca-file %s --to %s %s; echo EXIT=$?; sleep 60",
		chatShellQuote(x.bin), jid, srv.Addr(), chatShellQuote(srv.CAFile()), to, strings.Join(extra, " "))
	x.run("new-session", "-d", "-s", session, "-x", "150", "-y", "30", chat)
	x.prompt = "[online] " + to + "> "
	x.waitLine(session, "")
}

func (x *editorTmux) keys(session string, keys ...string) {
	x.t.Helper()
	x.run(append([]string{"send-keys", "-t", session}, keys...)...)
}

func (x *editorTmux) text(session, s string) {
	x.t.Helper()
	x.run("send-keys", "-t", session, "-l", s)
}

func (x *editorTmux) screen(session string) string { return x.run("capture-pane", "-p", "-t", session) }

func (x *editorTmux) wait(session, desc string, ok func(string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := x.screen(session)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: no %s after 20s; screen:\n%s", session, desc, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastScreenLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	return strings.TrimRight(lines[len(lines)-1], " ")
}

// waitLine waits until the input line is prompt+line, and the cursor
// after want's prefix before "|" when line has one.
func (x *editorTmux) waitLine(session, line string) {
	x.t.Helper()
	want := x.prompt + strings.Replace(line, "|", "", 1)
	cursor := -1
	if i := strings.Index(line, "|"); i >= 0 {
		cursor = utf8.RuneCountInString(x.prompt + line[:i])
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := x.screen(session)
		got := lastScreenLine(s)
		cx := -1
		if cursor >= 0 {
			fmt.Sscan(strings.TrimSpace(x.run("display-message", "-p", "-t", session, "#{cursor_x}")), &cx)
		}
		if got == strings.TrimRight(want, " ") && cx == cursor {
			return
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: input line %q (cursor %d), want %q (cursor %d); screen:\n%s", session, got, cx, want, cursor, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *editorTmux) exit(session string) string {
	x.t.Helper()
	return x.wait(session, "the exit status", func(s string) bool { return strings.Contains(s, "EXIT=") })
}

// TestChatEditor checks the line editor on a real terminal (tmux), against
// a real server: the keys as tmux sends them, completion, reverse search,
// the history across runs, bracketed paste and Ctrl-C.
func TestChatEditor(t *testing.T) {
	const pw = "editor test password"
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"a-ed": pw, "b-ed": pw}})
	alice, bobJID := "a-ed@"+srv.Domain(), "b-ed@"+srv.Domain()
	bob := chatPeer(t, srv, "b-ed", pw)
	x := newEditorTmux(t, pw)
	x.start("one", srv, alice, bobJID)

	// Home and End as tmux sends them (\e[1~, \e[4~), Ctrl-A, Ctrl-E.
	x.text("one", "world")
	x.keys("one", "Home")
	x.waitLine("one", "|world")
	x.text("one", "hello ")
	x.keys("one", "End")
	x.waitLine("one", "hello world|")
	x.text("one", "!")
	x.keys("one", "C-a")
	x.waitLine("one", "|hello world!")
	x.keys("one", "C-e")
	x.waitLine("one", "hello world!|")

	// Alt-b, Alt-f: by word.
	x.keys("one", "M-b", "M-b")
	x.waitLine("one", "|hello world!")
	x.keys("one", "M-f")
	x.waitLine("one", "hello| world!")
	x.text("one", ",")
	x.keys("one", "BSpace")
	x.text("one", " there,")
	x.waitLine("one", "hello there,| world!")
	x.keys("one", "Enter")
	bob.waitBody(t, "hello there, world!")

	// A message arriving while a line is typed leaves it intact (and
	// during a reverse search, below).
	var s string
	x.text("one", "tail")
	x.keys("one", "Left", "Left")
	bob.send(t, alice, "from bob, while typing")
	x.wait("one", "bob's message", func(s string) bool { return strings.Contains(s, "from bob, while typing") })
	x.waitLine("one", "ta|il")
	x.keys("one", "C-u")
	x.keys("one", "C-k")
	x.waitLine("one", "|")

	// Tab: commands, then contacts' JIDs (bob's seen in --to and his
	// message).
	x.text("one", "/sta")
	x.keys("one", "Tab")
	x.waitLine("one", "/status |")
	x.keys("one", "C-u")
	x.text("one", "/msg b-")
	x.keys("one", "Tab")
	x.waitLine("one", "/msg "+bobJID+" |")
	x.text("one", "tabbed")
	x.keys("one", "Enter")
	bob.waitBody(t, "tabbed")
	// Two candidates: a second Tab lists them above the line.
	x.text("one", "/s")
	x.keys("one", "Tab", "Tab")
	s = x.wait("one", "the candidates", func(s string) bool { return strings.Contains(s, "/status  /suspend") })
	if lastScreenLine(s) != x.prompt+"/s" {
		t.Errorf("the line after listing candidates: %q", lastScreenLine(s))
	}
	x.keys("one", "C-u")

	// Ctrl-R: search the history; Ctrl-G gives up, Enter sends the match.
	x.text("one", "draft")
	x.keys("one", "C-r")
	x.text("one", "there")
	x.wait("one", "the search", func(s string) bool {
		return lastScreenLine(s) == "(reverse-i-search)`there': hello there, world!"
	})
	bob.send(t, alice, "from bob, during a search")
	s = x.wait("one", "bob's message", func(s string) bool { return strings.Contains(s, "from bob, during a search") })
	if got := lastScreenLine(s); got != "(reverse-i-search)`there': hello there, world!" {
		t.Errorf("the search was garbled by a message: %q; screen:\n%s", got, s)
	}
	x.keys("one", "C-g")
	x.waitLine("one", "draft|")
	x.keys("one", "C-u", "C-r")
	x.text("one", "helo")
	x.wait("one", "the failed search", func(s string) bool {
		return strings.HasPrefix(lastScreenLine(s), "(failed reverse-i-search)`helo'")
	})
	x.keys("one", "BSpace", "BSpace")
	x.text("one", "llo")
	x.wait("one", "the search", func(s string) bool {
		return lastScreenLine(s) == "(reverse-i-search)`hello': hello there, world!"
	})
	x.keys("one", "Enter")
	x.wait("one", "the line sent again", func(s string) bool { return bob.count("hello there, world!") == 2 })
	x.waitLine("one", "")

	// Bracketed paste: the line breaks of a paste do not send it; the
	// message has them.
	x.run("set-buffer", "-b", "p", "first pasted line\nsecond, with /quit\n")
	x.run("paste-buffer", "-p", "-b", "p", "-t", "one")
	x.waitLine("one", "first pasted line↵second, with /quit↵|")
	x.keys("one", "BSpace", "Enter")
	bob.waitBody(t, "first pasted line\nsecond, with /quit")

	// A line starting with a space stays out of the history.
	x.text("one", " not for the history")
	x.keys("one", "Enter")
	bob.waitBody(t, " not for the history")

	// A paste longer than the 4,096 characters term.Terminal edits by
	// itself arrives whole (its leading space keeps it out of the
	// history, which the second run checks).
	long := " " + strings.Repeat("0123456789abcdé€", 400) // 6,401 characters
	x.run("set-buffer", "-b", "long", long)
	x.run("paste-buffer", "-p", "-b", "long", "-t", "one")
	x.keys("one", "Enter")
	bob.waitBody(t, long)
	x.text("one", "/quit")
	x.keys("one", "Enter")
	if s := x.exit("one"); !strings.Contains(s, "EXIT=0") {
		t.Fatalf("after /quit:\n%s", s)
	}

	// The history across runs: Up brings back the last line of the
	// previous run; the file is the user's only and has no line typed
	// after a space.
	hist := filepath.Join(x.dir, "state", "xmppbg", "history")
	fi, err := os.Stat(hist)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(hist)
	if strings.Contains(string(data), "not for the history") || !strings.Contains(string(data), "hello there, world!\n") ||
		strings.Contains(string(data), pw) {
		t.Errorf("history file:\n%s", data)
	}
	x.start("two", srv, alice, bobJID)
	x.keys("two", "Up")
	x.waitLine("two", "/quit|")
	x.keys("two", "Up")
	x.waitLine("two", "first pasted line↵second, with /quit|")
	x.keys("two", "C-u")

	// Ctrl-C leaves at once.
	x.text("two", "half")
	x.keys("two", "C-c")
	s = x.exit("two")
	if !strings.Contains(s, "-- interrupted: leaving now") || !strings.Contains(s, "EXIT=0") {
		t.Errorf("after Ctrl-C:\n%s", s)
	}

	// --no-history: nothing read, nothing written.
	before, _ := os.ReadFile(hist)
	x.start("three", srv, alice, bobJID, "--no-history")
	x.keys("three", "Up")
	x.text("three", "x")
	x.waitLine("three", "x|")
	x.keys("three", "C-u")
	x.text("three", "kept in memory")
	x.keys("three", "Enter")
	bob.waitBody(t, "kept in memory")
	x.keys("three", "Up")
	x.waitLine("three", "kept in memory|")
	x.keys("three", "C-d")
	x.keys("three", "C-u", "C-d")
	if s := x.exit("three"); !strings.Contains(s, "EXIT=0") {
		t.Errorf("after Ctrl-D:\n%s", s)
	}
	if after, _ := os.ReadFile(hist); !bytes.Equal(before, after) {
		t.Errorf("--no-history changed the file:\n%s", after)
	}
}

// readEditedLine runs the line editor as the chat does (keyReader,
// term.Terminal, editor) on the bytes a terminal sends, and returns the
// first line read and the warnings shown.
func readEditedLine(t *testing.T, in string) (string, []string) {
	t.Helper()
	keys := newKeyReader(strings.NewReader(in))
	tm := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{keys, io.Discard}, "> ")
	hist, err := openHistory("", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEditor(tm, hist)
	var warnings []string
	e.pasted, e.warn = keys.paste, func(s string) { warnings = append(warnings, s) }
	line, err := termLines{tm}.ReadLine()
	if err != nil {
		t.Fatalf("ReadLine: %v", err)
	}
	return line, warnings
}

// A line longer than the 4,096 characters term.Terminal edits by itself,
// pasted or typed, arrives whole; beyond maxEditLine bytes it is cut, at a
// character, with one warning.
func TestEditorLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é€😀 abc\n", 1000) // 14,000 bytes, 8,000 characters
	t.Run("pasted", func(t *testing.T) {
		got, warnings := readEditedLine(t, "\x1b[200~"+long+"\x1b[201~\r")
		if got != long || len(warnings) != 0 {
			t.Fatalf("got %d bytes (%d characters), warnings %q; want the %d bytes pasted", len(got), utf8.RuneCountInString(got), warnings, len(long))
		}
	})
	t.Run("typed", func(t *testing.T) {
		typed := strings.Repeat("abcdefgh", 1000)
		got, warnings := readEditedLine(t, typed+"\r")
		if got != typed || len(warnings) != 0 {
			t.Fatalf("got %d characters, warnings %q; want %d", len(got), warnings, len(typed))
		}
	})
	t.Run("beyond the bound", func(t *testing.T) {
		huge := strings.Repeat("é", maxEditLine) // twice the bound
		got, warnings := readEditedLine(t, "\x1b[200~"+huge+"\x1b[201~x\r")
		if len(got) != maxEditLine || !utf8.ValidString(got) || !strings.HasPrefix(huge, got) {
			t.Fatalf("got %d bytes (valid %t), want the first %d bytes of the paste", len(got), utf8.ValidString(got), maxEditLine)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "dropped") {
			t.Fatalf("warnings %q, want one saying what was dropped", warnings)
		}
	})
}

// Pasted text waiting while no line is read (a command runs) counts
// against maxPendingKeys as typed keys do: a paste stands in the queue as
// one 3-byte mark per read, and its text must not escape the bound.
func TestKeyReaderPasteBound(t *testing.T) {
	t.Parallel()
	in := "\x1b[200~" + strings.Repeat("a", 3*maxPendingKeys) + "\x1b[201~"
	k := newKeyReader(strings.NewReader(in))
	k.mu.Lock()
	for k.err == nil {
		k.cond.Wait()
	}
	pending := len(k.buf)
	for _, p := range k.pastes {
		pending += len(p)
	}
	k.mu.Unlock()
	if pending > maxPendingKeys {
		t.Fatalf("%d bytes pending, above maxPendingKeys (%d)", pending, maxPendingKeys)
	}
}
