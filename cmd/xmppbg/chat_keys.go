package main

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// The keys that the line editor's callback (see chat_editor.go) must see
// although term.Terminal would handle them itself: markKey comes before
// every key that the Terminal handles (moves, kills, history, Enter,
// Ctrl-D), so that a reverse search ends before the key acts; backspace is
// handed over as markBackspace, so that it shortens the search instead of
// the line while one runs. Both are in the Unicode private use area: the
// keyboard does not send them.
// markWordLeft and markWordRight move by word as readline does (to the
// end of the next word, where the Terminal would go to its start).
// markPaste stands for a piece of pasted text, which the callback takes
// from keyReader.paste and inserts in one go: the Terminal would insert it
// a key at a time and stop at 4,096 characters without a word.
const (
	markKey       = '\ue000'
	markBackspace = '\ue001'
	markWordLeft  = '\ue002'
	markWordRight = '\ue003'
	markPaste     = '\ue004'
)

// The UTF-8 encoding of the marks: markLead, markMid, then markLast0 to
// markLast0+markCount-1.
const (
	markLead  = 0xee
	markMid   = 0x80
	markLast0 = 0x80
	markCount = 5
)

// isMark reports whether r is one of the marks above.
func isMark(r rune) bool { return r >= markKey && r < markKey+markCount }

// pasteBreak stands for a line break in pasted text: it shows in the line
// being edited, and becomes "\n" in the message sent.
const pasteBreak = '↵'

// Bracketed paste (xterm): the terminal wraps pasted text in these.
var (
	pasteStart = []byte("\x1b[200~")
	pasteEnd   = []byte("\x1b[201~")
)

// Key sequences as term.Terminal understands them.
const (
	seqHome      = "\x1b[H"
	seqEnd       = "\x1b[F"
	seqWordLeft  = string(markWordLeft)
	seqWordRight = string(markWordRight)
)

// keyReader reads the terminal's keys on its own goroutine, from the start
// of the chat to its end, and hands them to term.Terminal in the form it
// understands: Home and End as tmux, xterm, rxvt and the Linux console send
// them, Alt-b, Alt-f and Ctrl-arrows as moves by word, pasted text as text
// (never as keys: a pasted line break does not send the line, a pasted
// Ctrl-C does not interrupt). It also sees Ctrl-C whether or not a line is
// being read, which the raw terminal does not turn into SIGINT: see
// interrupts.
type keyReader struct {
	in io.Reader

	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte   // translated keys the Terminal has not read yet
	pastes []string // the text of each markPaste in buf, in order
	pasted int      // the bytes in pastes, counted against maxPendingKeys
	err    error    // why reading the terminal stopped

	hit  atomic.Bool   // a Ctrl-C was typed
	intr chan struct{} // one value per Ctrl-C, dropped when full

	// The decoder's state, on the reading goroutine only.
	dec keyDecoder
}

// newKeyReader starts reading in. The goroutine ends when reading fails;
// on a terminal that is the end of the process, since a read cannot be
// cancelled (whatever it reads after close is dropped).
func newKeyReader(in io.Reader) *keyReader {
	k := &keyReader{in: in, intr: make(chan struct{}, 4)}
	k.cond = sync.NewCond(&k.mu)
	go k.run()
	return k
}

func (k *keyReader) run() {
	chunk := make([]byte, 1024)
	for {
		n, err := k.in.Read(chunk)
		out, intr := k.dec.decode(chunk[:n])
		pastes := k.dec.takePastes()
		for range intr {
			k.hit.Store(true)
			select {
			case k.intr <- struct{}{}:
			default:
			}
		}
		size := 0
		for _, p := range pastes {
			size += len(p)
		}
		k.mu.Lock()
		// A paste stands in buf as a 3-byte mark per read: its text
		// counts too, or a long paste would escape the bound.
		if len(k.buf)+len(out)+k.pasted+size <= maxPendingKeys {
			k.buf = append(k.buf, out...)
			k.pastes = append(k.pastes, pastes...)
			k.pasted += size
		}
		if err != nil {
			k.err = err
		}
		k.cond.Broadcast()
		k.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// paste returns the text of the next markPaste the Terminal read. The
// callback calls it for each markPaste it sees, in order, so the queue
// never runs dry; if it did, the mark would insert nothing.
func (k *keyReader) paste() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.pastes) == 0 {
		return ""
	}
	p := k.pastes[0]
	k.pastes[0] = ""
	k.pastes = k.pastes[1:]
	k.pasted -= len(p)
	return p
}

// Read gives the Terminal the keys read so far, waiting for some.
func (k *keyReader) Read(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.buf) == 0 && k.err == nil {
		k.cond.Wait()
	}
	if len(k.buf) == 0 {
		return 0, k.err
	}
	n := copy(p, k.buf)
	k.buf = k.buf[n:]
	return n, nil
}

// keyDecoder translates the bytes a terminal sends into what term.Terminal
// and the editor's callback understand. It keeps an incomplete sequence for
// the next call.
type keyDecoder struct {
	rest  []byte
	paste bool
	cr    bool // the last byte was CR: a LF after it is the same line break

	// pasted is the text of the paste under way read by this decode, not
	// yet stood for by a markPaste; pastes are the texts of the marks
	// written, for takePastes.
	pasted []byte
	pastes []string
}

// takePastes returns the texts of the markPastes that decode wrote since
// the last call, in order.
func (d *keyDecoder) takePastes() []string {
	p := d.pastes
	d.pastes = nil
	return p
}

// flushPaste writes a markPaste for the pasted text read so far, if any.
// A long paste arrives in many reads: a mark for each read's part keeps
// it flowing onto the screen.
func (d *keyDecoder) flushPaste(out []byte) []byte {
	n := len(d.pasted)
	if d.paste {
		// A character cut by the end of the read waits for the rest.
		for j := n - 1; j >= 0 && j >= n-utf8.UTFMax; j-- {
			if utf8.RuneStart(d.pasted[j]) {
				if !utf8.FullRune(d.pasted[j:]) {
					n = j
				}
				break
			}
		}
	}
	if n == 0 {
		return out
	}
	d.pastes = append(d.pastes, string(d.pasted[:n]))
	d.pasted = append(d.pasted[:0], d.pasted[n:]...)
	return append(out, string(markPaste)...)
}

// maxPendingKeys bounds the keys kept while no line is read (a command
// runs), in bytes, pasted text included: what is typed or pasted beyond
// is dropped.
const maxPendingKeys = 1 << 20

// maxSeq bounds an escape sequence: longer ones are not keys, and are
// dropped.
const maxSeq = 16

// decode translates p (after what was left of the last call) and returns
// the translation and the number of Ctrl-Cs typed (outside pastes).
func (d *keyDecoder) decode(p []byte) (out []byte, interrupts int) {
	b := append(d.rest, p...)
	d.rest = nil
	i := 0
	for i < len(b) {
		if d.cr {
			d.cr = false
			if b[i] == '\n' {
				i++
				continue
			}
		}
		if b[i] == markLead {
			// The marks' own encoding in the text read (pasted, or from
			// an input method) is text, never a key: U+FFFD stands for it.
			if len(b)-i < 3 && (len(b)-i == 1 || b[i+1] == markMid) {
				break // perhaps a mark: wait for the rest
			}
			if b[i+1] == markMid && b[i+2] >= markLast0 && b[i+2] < markLast0+markCount {
				if d.paste {
					d.pasted = append(d.pasted, string(utf8.RuneError)...)
				} else {
					out = append(out, string(utf8.RuneError)...)
				}
				i += 3
				continue
			}
		}
		if d.paste {
			if bytes.HasPrefix(b[i:], pasteEnd) {
				d.paste = false
				i += len(pasteEnd)
				out = d.flushPaste(out)
				continue
			}
			if bytes.HasPrefix(pasteEnd, b[i:]) {
				break // perhaps the end of the paste: wait for the rest
			}
			switch c := b[i]; {
			case c == '\r' || c == '\n':
				d.cr = c == '\r'
				d.pasted = append(d.pasted, string(pasteBreak)...)
			case c == '\t':
				d.pasted = append(d.pasted, ' ')
			case c < 0x20 || c == 0x7f:
				// Other control characters, escape sequences included,
				// are not text: dropped.
			default:
				d.pasted = append(d.pasted, c)
			}
			i++
			continue
		}
		c := b[i]
		switch c {
		case 0x1b:
			seq, ok := escapeSeq(b[i:])
			if !ok {
				d.rest = append([]byte(nil), b[i:]...)
				return d.flushPaste(out), interrupts
			}
			i += len(seq)
			if bytes.Equal(seq, pasteStart) {
				d.paste = true
				continue
			}
			if key := translateEscape(seq); key == seqWordLeft || key == seqWordRight {
				out = append(out, key...)
			} else if key != "" {
				out = append(out, string(markKey)...)
				out = append(out, key...)
			}
			continue
		case 3: // Ctrl-C: the Terminal ends the line with io.EOF
			interrupts++
			out = append(out, c)
		case 0x7f, 8: // Backspace, Ctrl-H
			out = append(out, string(markBackspace)...)
		case '\t', 7, 0x12: // Tab, Ctrl-G, Ctrl-R: the editor's callback
			out = append(out, c)
		case '\r':
			out = append(out, string(markKey)...)
			out = append(out, c)
			d.cr = true
		case '\n', 1, 2, 4, 5, 6, 0x0b, 0x0c, 0x0e, 0x10, 0x14, 0x15, 0x17:
			// Enter, and the Ctrl keys the Terminal edits with: A B D E F
			// K L N P T U W.
			out = append(out, string(markKey)...)
			out = append(out, c)
		default:
			if c >= 0x20 {
				out = append(out, c)
			}
			// Other control keys do nothing.
		}
		i++
	}
	if i < len(b) {
		d.rest = append([]byte(nil), b[i:]...)
	}
	return d.flushPaste(out), interrupts
}

// escapeSeq returns the escape sequence at the start of b (which starts
// with ESC), or false when b ends before it does.
func escapeSeq(b []byte) ([]byte, bool) {
	if len(b) < 2 {
		return nil, false
	}
	switch b[1] {
	case '[': // CSI: parameters and intermediates, then a final byte
		for j := 2; j < len(b); j++ {
			if b[j] >= 0x40 && b[j] <= 0x7e {
				return b[:j+1], true
			}
			if b[j] < 0x20 || b[j] > 0x3f || j >= maxSeq {
				return b[:j], true // not a key: dropped
			}
		}
		return nil, false
	case 'O': // SS3: one more byte
		if len(b) < 3 {
			return nil, false
		}
		return b[:3], true
	}
	if b[1] >= utf8.RuneSelf { // Alt and a letter beyond ASCII
		if !utf8.FullRune(b[1:]) {
			return nil, false
		}
		_, n := utf8.DecodeRune(b[1:])
		return b[:1+n], true
	}
	return b[:2], true // ESC and a key: Alt (Meta) and that key
}

// translateEscape maps an escape sequence to what the Terminal
// understands, "" for none (the key is dropped).
func translateEscape(seq []byte) string {
	switch string(seq) {
	case "\x1b[A", "\x1bOA":
		return "\x1b[A"
	case "\x1b[B", "\x1bOB":
		return "\x1b[B"
	case "\x1b[C", "\x1bOC":
		return "\x1b[C"
	case "\x1b[D", "\x1bOD":
		return "\x1b[D"
	case "\x1b[H", "\x1bOH", "\x1b[1~", "\x1b[7~":
		return seqHome
	case "\x1b[F", "\x1bOF", "\x1b[4~", "\x1b[8~":
		return seqEnd
	case "\x1b[3~":
		return "\x1b[3~"
	case "\x1bb", "\x1bB", "\x1b[1;3D", "\x1b[1;5D":
		return seqWordLeft
	case "\x1bf", "\x1bF", "\x1b[1;3C", "\x1b[1;5C":
		return seqWordRight
	case "\x1b\x7f", "\x1b\x08": // Alt-Backspace: delete the word before
		return "\x17"
	}
	return ""
}
