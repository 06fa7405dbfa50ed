package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// Why x/term's Terminal and not a line-editing library: the chat prints
// messages while a line is typed, from other goroutines, and the Terminal's
// Write redraws the prompt and the line under its own lock. peterh/liner
// has no way to print while a prompt is up, nor bracketed paste;
// reeflective/readline's Printf touches its display state without a lock
// while Readline redraws it (the race detector reports it, and a test
// typing while messages arrive left a garbled line on the screen);
// chzyer/readline is unmaintained. What the Terminal lacks is added here
// and in keyReader.
//
// editor adds to term.Terminal's line editing, through its
// AutoCompleteCallback: Tab completion, Ctrl-R reverse search of the
// history, and backspace (which keyReader hands over as markBackspace).
// It owns the prompt shown: the chat's prompt, or the search's while one
// runs.
//
// The callback runs on the goroutine reading lines, without the
// Terminal's lock, so it may call SetPrompt and Write; every other method
// may be called from any goroutine.
type editor struct {
	t    *term.Terminal
	hist term.History

	// pasted returns the text a markPaste stands for (keyReader.paste);
	// warn shows a warning above the line. Both may be nil (tests).
	pasted func() string
	warn   func(string)
	// cut: the line being edited lost text at maxEditLine, already said
	// (the callback's goroutine only).
	cut bool

	// tabbed: the last key was a Tab that could not complete (the
	// callback's goroutine only).
	tabbed bool

	mu     sync.Mutex
	base   string   // the chat's prompt
	search *search  // the reverse search running, if any
	jids   []string // contacts seen, most recent last
}

// search is a reverse search of the history (Ctrl-R), as in readline.
type search struct {
	query   []rune
	orig    string // the line before the search, back on Ctrl-G
	origPos int
	at      int // the history index of the match, -1 for none yet
	failed  bool
}

// maxJIDs bounds the contacts remembered for completion.
const maxJIDs = 200

// termLineMax is the longest line term.Terminal edits by itself, in
// characters: beyond it, it drops every key without a word. The callback
// inserts the keys beyond it itself.
const termLineMax = 4096

// maxEditLine bounds the line being edited, in bytes: 64 KiB, far beyond
// a chat line and within what servers take in one stanza (Prosody's
// default limit is 256 KiB). What is typed or pasted beyond is dropped,
// with a warning; longer texts go through "xmppbg send TO - < file".
const maxEditLine = 64 << 10

func newEditor(t *term.Terminal, hist term.History) *editor {
	e := &editor{t: t, hist: hist}
	t.History = hist
	t.AutoCompleteCallback = e.key
	return e
}

// setPrompt sets the chat's prompt; it shows at the next redraw unless a
// search runs.
func (e *editor) setPrompt(p string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.base = p
	if e.search == nil {
		e.t.SetPrompt(p)
	}
}

// addJID remembers a contact's bare JID for completion.
func (e *editor) addJID(jid string) {
	if i := strings.IndexByte(jid, '/'); i >= 0 {
		jid = jid[:i]
	}
	if jid == "" || !plausibleJID(jid) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if i := slices.Index(e.jids, jid); i >= 0 {
		e.jids = slices.Delete(e.jids, i, i+1)
	}
	e.jids = append(e.jids, jid)
	if len(e.jids) > maxJIDs {
		e.jids = slices.Delete(e.jids, 0, len(e.jids)-maxJIDs)
	}
}

// key is the Terminal's AutoCompleteCallback: it sees every key the
// Terminal does not handle itself, and markKey before those it does.
func (e *editor) key(line string, pos int, key rune) (string, int, bool) {
	if line == "" {
		e.cut = false // a new line, or one emptied: warn again
	}
	tab := e.tabbed
	e.tabbed = false
	if e.searching() {
		return e.searchKey(line, pos, key)
	}
	switch key {
	case markPaste:
		var text string
		if e.pasted != nil {
			text = e.pasted()
		}
		return e.insert(line, pos, text)
	case markKey:
		return line, pos, true
	case markBackspace:
		if pos == 0 {
			return line, pos, true
		}
		_, n := utf8.DecodeLastRuneInString(line[:pos])
		return line[:pos-n] + line[pos:], pos - n, true
	case markWordLeft:
		return line, wordLeft(line, pos), true
	case markWordRight:
		return line, wordRight(line, pos), true
	case 0x12: // Ctrl-R
		e.startSearch(line, pos)
		return line, pos, true
	case '\t':
		return e.complete(line, pos, tab)
	case 7: // Ctrl-G: nothing to cancel
		return line, pos, true
	}
	if key >= 0x20 && key != 0x7f && !isMark(key) && utf8.RuneCountInString(line) >= termLineMax {
		// The Terminal would drop it.
		return e.insert(line, pos, string(key))
	}
	return "", 0, false
}

// insert inserts text at pos, within maxEditLine: what does not fit is
// dropped, and a warning says so once per line.
func (e *editor) insert(line string, pos int, text string) (string, int, bool) {
	if room := maxEditLine - len(line); len(text) > room {
		keep := max(room, 0)
		for keep > 0 && !utf8.RuneStart(text[keep]) {
			keep--
		}
		dropped := utf8.RuneCountInString(text[keep:])
		text = text[:keep]
		if !e.cut && e.warn != nil {
			e.warn(fmt.Sprintf("the line holds at most %d bytes: %d characters beyond were dropped (send longer texts with \"xmppbg send TO - < FILE\")", maxEditLine, dropped))
		}
		e.cut = true
	}
	return line[:pos] + text + line[pos:], pos + len(text), true
}

func (e *editor) searching() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.search != nil
}

// showPrompt sets the prompt and redraws it with the line.
func (e *editor) showPrompt(p string) {
	e.t.SetPrompt(p)
	_, _ = e.t.Write(nil)
}

func (e *editor) startSearch(line string, pos int) {
	e.mu.Lock()
	e.search = &search{orig: line, origPos: pos, at: -1}
	p := e.search.prompt()
	e.mu.Unlock()
	e.showPrompt(p)
}

// endSearch shows the chat's prompt again.
func (e *editor) endSearch() {
	e.mu.Lock()
	e.search = nil
	p := e.base
	e.mu.Unlock()
	e.showPrompt(p)
}

func (s *search) prompt() string {
	p := "(reverse-i-search)"
	if s.failed {
		p = "(failed reverse-i-search)"
	}
	return p + "`" + sanitize(string(s.query)) + "': "
}

// searchKey handles a key during a reverse search: text and backspace
// change the query, Ctrl-R finds an older match, Ctrl-G gives the line
// back as it was; any other key ends the search on the line found, and
// then does what it does (Enter sends it).
func (e *editor) searchKey(line string, pos int, key rune) (string, int, bool) {
	e.mu.Lock()
	s := e.search
	e.mu.Unlock()
	switch {
	case key == 7: // Ctrl-G
		e.endSearch()
		return s.orig, s.origPos, true
	case key == 0x12: // Ctrl-R: the next older match
		if len(s.query) == 0 {
			return line, pos, true
		}
		return e.find(s, s.at+1, line, pos)
	case key == markBackspace:
		if len(s.query) > 0 {
			s.query = s.query[:len(s.query)-1]
		}
		if len(s.query) == 0 {
			s.at, s.failed = -1, false
			e.showPrompt(s.prompt())
			return s.orig, s.origPos, true
		}
		return e.find(s, 0, line, pos)
	case key >= 0x20 && key != 0x7f && !isMark(key):
		s.query = append(s.query, key)
		return e.find(s, max(s.at, 0), line, pos)
	}
	e.endSearch()
	return e.key(line, pos, key) // what the key does out of a search
}

// find looks for the query in the history from index from on (older), and
// shows the match.
func (e *editor) find(s *search, from int, line string, pos int) (string, int, bool) {
	q := string(s.query)
	for i := from; i < e.hist.Len(); i++ {
		h := e.hist.At(i)
		if j := strings.LastIndex(h, q); j >= 0 {
			s.at, s.failed = i, false
			e.showPrompt(s.prompt())
			return h, j, true
		}
	}
	s.failed = true
	e.showPrompt(s.prompt())
	return line, pos, true
}

// commandArgs lists the commands and what their first argument is, from
// driver.Help: "JID", a choice "a|b|c", or "" for anything else.
var commandArgs = func() map[string]string {
	m := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s+(/[a-z]+)(?:\s+(\S+))?`)
	for _, sub := range re.FindAllStringSubmatch(driver.Help, -1) {
		m[sub[1]] = sub[2]
	}
	return m
}()

// complete completes the word before the cursor: a command at the start of
// the line, a command's argument (a JID, a fault), or a JID anywhere else.
// Completed to the longest common prefix; a second Tab lists the
// candidates above the prompt.
func (e *editor) complete(line string, pos int, again bool) (string, int, bool) {
	start := strings.LastIndexByte(line[:pos], ' ') + 1
	word := line[start:pos]
	var cands []string
	fields := strings.Fields(line[:start])
	switch {
	case start == 0 && strings.HasPrefix(word, "/"):
		for c := range commandArgs {
			cands = append(cands, c)
		}
	case len(fields) == 1 && strings.Contains(commandArgs[fields[0]], "|"):
		cands = strings.Split(commandArgs[fields[0]], "|")
	case len(fields) == 0 || fields[0] == "/msg" || fields[0] == "/to" || !strings.HasPrefix(fields[0], "/"):
		e.mu.Lock()
		cands = slices.Clone(e.jids)
		e.mu.Unlock()
	}
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(strings.ToLower(c), strings.ToLower(word)) {
			match = append(match, c)
		}
	}
	slices.Sort(match)
	match = slices.Compact(match)
	switch len(match) {
	case 0:
		return line, pos, true
	case 1:
		ins := match[0] + " "
		if pos < len(line) && line[pos] == ' ' {
			ins = match[0]
		}
		return line[:start] + ins + line[pos:], start + len(ins), true
	}
	common := match[0]
	for _, m := range match[1:] {
		for !strings.HasPrefix(strings.ToLower(m), strings.ToLower(common)) {
			_, n := utf8.DecodeLastRuneInString(common)
			common = common[:len(common)-n]
		}
	}
	if len(common) > len(word) {
		return line[:start] + common + line[pos:], start + len(common), true
	}
	if again {
		list := make([]string, len(match))
		for i, m := range match {
			list[i] = sanitize(m)
		}
		_, _ = e.t.Write([]byte(strings.Join(list, "  ") + "\n"))
	} else {
		e.tabbed = true
	}
	return line, pos, true
}

// isWordRune reports whether r is part of a word for the moves by word:
// letters and digits, as readline.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// wordLeft returns the start of the word before pos (Alt-b).
func wordLeft(line string, pos int) int {
	for pos > 0 {
		r, n := utf8.DecodeLastRuneInString(line[:pos])
		if isWordRune(r) {
			break
		}
		pos -= n
	}
	for pos > 0 {
		r, n := utf8.DecodeLastRuneInString(line[:pos])
		if !isWordRune(r) {
			break
		}
		pos -= n
	}
	return pos
}

// wordRight returns the end of the word after pos (Alt-f).
func wordRight(line string, pos int) int {
	for pos < len(line) {
		r, n := utf8.DecodeRuneInString(line[pos:])
		if isWordRune(r) {
			break
		}
		pos += n
	}
	for pos < len(line) {
		r, n := utf8.DecodeRuneInString(line[pos:])
		if !isWordRune(r) {
			break
		}
		pos += n
	}
	return pos
}
