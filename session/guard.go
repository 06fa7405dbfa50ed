package session

import (
	"encoding/xml"
	"errors"
)

// The guard keeps a hostile or careless peer from turning one stanza into a
// connection fault. encoding/xml buffers a whole token (a text node, a tag)
// before it returns it and fails the whole stream on a nesting it cannot
// decode, so the bounds are kept below it, on the bytes as they arrive
// (after TLS), by a small lexer that knows just enough XML to tell text from
// markup:
//
//   - A top-level element nested deeper than MaxStanzaDepth, or larger than
//     Config.MaxStanzaBytes, is poisoned: the lexer puts a marker element
//     (in a namespace random per session, so that nobody can forge it) where
//     the excess begins, then drops every text byte of the rest of that
//     element and every tag deeper than the bound. What reaches the decoder
//     stays well-formed and small; the read loop sees the marker, drops the
//     element whole and reports it as Skipped (counted for XEP-0198, so the
//     server does not send it again).
//   - A comment, processing instruction or DTD inside the stream (RFC 6120
//     §11.1 restricts them) becomes a marker, after which reading fails:
//     the read loop ends the stream with <restricted-xml/> at the marker.
//   - What cannot be poisoned is a hard error, ErrStanzaTooLarge: one tag
//     larger than the cap by itself.
//
// Stream-level text (whitespace keepalives) is cut to maxStreamText per run.

// MaxStanzaDepth bounds the nesting of an incoming stanza (the stanza itself
// is depth 1). Real stanzas nest a few levels (a forwarded archived message
// with XHTML is about a dozen); encoding/xml gives up at 10,000. A stanza
// nested deeper is skipped (Skipped, SkipTooDeep) and the stream goes on.
const MaxStanzaDepth = 256

const (
	maxStreamText = 4096    // stream-level text kept per run
	maxPrologRun  = 1 << 16 // a declaration, comment or PI before the stream
	maxEntity     = 64      // longer than any entity reference XML allows
)

// Why the guard marked an element.
const (
	guardDepth      = "depth"
	guardSize       = "size"
	guardRestricted = "restricted"
)

type lexState uint8

const (
	lexText      lexState = iota
	lexOpen               // after '<', deciding what follows
	lexBang               // after "<!", deciding comment, CDATA or DTD
	lexStart              // in a start tag
	lexAttr               // in a quoted attribute value
	lexEnd                // in an end tag
	lexCDATA              // in a CDATA section
	lexComment            // in a comment (before the stream only)
	lexPI                 // in a processing instruction (before the stream only)
	lexDirective          // in a DTD (before the stream only)
)

// guard is the lexer. It is used by one reader at a time.
type guard struct {
	maxBytes int
	ns       string

	st       lexState
	depth    int    // open elements, the stream's included
	held     []byte // the opening of markup not yet passed on
	run      int    // bytes of the current tag, or of stream-level text
	tail     [2]byte
	quote    byte
	slash    bool // the last byte of a tag was '/'
	dropTag  bool // the current tag is nested too deep: dropped
	entity   int  // inside an entity reference in text: its length
	inStanza bool // inside a top-level element
	stanza   int  // its bytes so far
	poisoned bool
	pending  string // a reason to poison, waiting for a point in text
	dead     bool   // a restricted construct: nothing more is read
}

func newGuard(maxBytes int) *guard {
	return &guard{maxBytes: maxBytes, ns: "urn:xmppbg:guard:" + NewID()}
}

// reset starts a new stream (the client sent a new stream header).
func (g *guard) reset() {
	*g = guard{maxBytes: g.maxBytes, ns: g.ns}
}

func (g *guard) marker(out []byte, reason string) []byte {
	out = append(out, `<g xmlns="`...)
	out = append(out, g.ns...)
	out = append(out, `" r="`...)
	out = append(out, reason...)
	return append(out, `"/>`...)
}

func isCont(c byte) bool { return c&0xC0 == 0x80 }

// feed lexes in and appends to out what the decoder may see.
func (g *guard) feed(out, in []byte) ([]byte, error) {
	for _, c := range in {
		if g.dead {
			// The marker goes first; the error is for whoever reads on
			// (mellium during the login, which would otherwise wait for
			// what never comes).
			return out, errRestrictedXML
		}
		if g.inStanza {
			g.stanza++
			if !g.poisoned && g.pending == "" && g.stanza > g.maxBytes {
				g.pending = guardSize
			}
		}
		var err error
		out, err = g.byte(out, c)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (g *guard) byte(out []byte, c byte) ([]byte, error) {
	switch g.st {
	case lexText:
		if g.pending != "" && g.entity == 0 && !isCont(c) {
			out = g.poison(out)
		}
		if c == '<' {
			g.st, g.entity, g.run = lexOpen, 0, 0
			g.held = append(g.held[:0], c)
			return out, nil
		}
		switch {
		case c == '&':
			g.entity = 1
		case g.entity > 0 && c == ';':
			g.entity = 0
		case g.entity > 0:
			if g.entity++; g.entity > maxEntity {
				g.entity = 0 // not an entity: the decoder will say so
			}
		}
		if g.depth <= 1 {
			if g.run++; g.run > maxStreamText {
				return out, nil
			}
		}
		if g.poisoned {
			return out, nil
		}
		return append(out, c), nil

	case lexOpen:
		g.held = append(g.held, c)
		switch c {
		case '/':
			g.st = lexEnd
			g.dropTag = g.depth > MaxStanzaDepth+1
		case '!':
			g.st = lexBang
			return out, nil
		case '?':
			if g.depth > 0 {
				return g.restrict(out), nil
			}
			g.st = lexPI
		default:
			g.st = lexStart
			if g.depth == 1 {
				g.inStanza, g.stanza = true, len(g.held)
			}
			// The stream is depth 1, the stanza 2.
			g.dropTag = g.depth+1 > MaxStanzaDepth+1
			if g.dropTag && !g.poisoned {
				g.pending = guardDepth
				out = g.poison(out)
			}
		}
		g.run = len(g.held)
		if !g.dropTag {
			out = append(out, g.held...)
		}
		return out, nil

	case lexBang:
		g.held = append(g.held, c)
		const cdata, comment = "<![CDATA[", "<!--"
		switch {
		case string(g.held) == cdata:
			g.st, g.run, g.tail = lexCDATA, 0, [2]byte{}
			if g.depth <= 1 || !g.poisoned {
				out = append(out, g.held...)
			}
		case len(g.held) <= len(cdata) && string(g.held) == cdata[:len(g.held)]:
		case string(g.held) == comment:
			if g.depth > 0 {
				return g.restrict(out), nil
			}
			g.st, g.run, g.tail = lexComment, len(g.held), [2]byte{}
			out = append(out, g.held...)
		case len(g.held) <= len(comment) && string(g.held) == comment[:len(g.held)]:
		default:
			if g.depth > 0 {
				return g.restrict(out), nil
			}
			g.st, g.run = lexDirective, len(g.held)
			out = append(out, g.held...)
			if c == '>' {
				g.st = lexText
			}
		}
		return out, nil

	case lexStart, lexAttr, lexEnd:
		if g.run++; g.run > g.maxBytes {
			return out, ErrStanzaTooLarge
		}
		if !g.dropTag {
			out = append(out, c)
		}
		switch {
		case g.st == lexAttr:
			if c == g.quote {
				g.st = lexStart
			}
			return out, nil
		case g.st == lexStart && (c == '"' || c == '\''):
			g.st, g.quote, g.slash = lexAttr, c, false
			return out, nil
		case c != '>':
			g.slash = c == '/'
			return out, nil
		}
		// The tag ends.
		switch {
		case g.st == lexEnd:
			g.depth--
		case !g.slash:
			g.depth++
		}
		g.st, g.slash, g.dropTag, g.run = lexText, false, false, 0
		if g.depth <= 1 {
			g.inStanza, g.poisoned, g.pending = false, false, ""
		}
		return out, nil

	case lexCDATA:
		if g.pending != "" && !isCont(c) {
			out = append(out, "]]>"...)
			out = g.poison(out)
		}
		end := g.tail == [2]byte{']', ']'} && c == '>'
		g.tail = [2]byte{g.tail[1], c}
		if g.depth <= 1 {
			if g.run++; g.run > maxStreamText {
				return out, ErrStanzaTooLarge
			}
		}
		if g.depth <= 1 || !g.poisoned {
			out = append(out, c)
		}
		if end {
			g.st = lexText
		}
		return out, nil

	case lexComment, lexPI, lexDirective:
		if g.run++; g.run > maxPrologRun {
			return out, ErrStanzaTooLarge
		}
		out = append(out, c)
		end := c == '>' && (g.st == lexDirective ||
			g.st == lexPI && g.tail[1] == '?' ||
			g.st == lexComment && g.tail == [2]byte{'-', '-'})
		g.tail = [2]byte{g.tail[1], c}
		if end {
			g.st = lexText
		}
		return out, nil
	}
	return out, nil
}

// poison marks the current top-level element with the pending reason; from
// here its text is dropped.
func (g *guard) poison(out []byte) []byte {
	out = g.marker(out, g.pending)
	g.poisoned, g.pending = true, ""
	return out
}

// restrict replaces a comment, PI or DTD in the stream with a marker and
// drops everything after it: the stream is about to end.
func (g *guard) restrict(out []byte) []byte {
	if g.st == lexCDATA {
		out = append(out, "]]>"...)
	}
	g.dead = true
	return g.marker(out, guardRestricted)
}

// errRestrictedXML is the read error after a restricted construct.
var errRestrictedXML = errors.New("session: the server sent a comment, processing instruction or DTD")

// guardError is what the read loop's token reader returns at a marker.
type guardError struct{ reason string }

func (e *guardError) Error() string { return "session: incoming element refused (" + e.reason + ")" }

// guardReader turns the guard's markers into a *guardError, in stream order,
// and tracks the depth below the stream element.
type guardReader struct {
	r     xml.TokenReader
	ns    string
	depth int
}

func (g *guardReader) Token() (xml.Token, error) {
	tok, err := g.r.Token()
	if err != nil {
		return tok, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if t.Name.Space == g.ns && g.ns != "" {
			reason := ""
			for _, a := range t.Attr {
				if a.Name.Local == "r" {
					reason = a.Value
				}
			}
			// The marker's own end element.
			if _, err := g.r.Token(); err != nil {
				return nil, err
			}
			return nil, &guardError{reason: reason}
		}
		g.depth++
	case xml.EndElement:
		g.depth--
	}
	return tok, nil
}

func asGuardError(err error) (*guardError, bool) {
	var ge *guardError
	ok := errors.As(err, &ge)
	return ge, ok
}
