package session

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp/stream"
)

// readLoop reads the stream until it ends, handling every top-level element.
// When it ends, the events already queued are delivered before Done is
// closed: whoever waits for Done has seen every event of the session.
func (s *Session) readLoop(r xml.TokenReader) {
	defer func() {
		s.notes.close()
		s.notes.wait()
		close(s.done)
	}()
	// From here the guard bounds each element; the login's budget is over.
	s.raw.unlimit()
	gr := &guardReader{r: r}
	if s.pipe != nil && s.pipe.g != nil {
		gr.ns = s.pipe.g.ns
	}
	d := xml.NewTokenDecoder(gr)
	for {
		tok, err := d.Token()
		if ge, ok := asGuardError(err); ok {
			if ge.reason != guardRestricted {
				continue // a marker between stanzas: nothing to skip
			}
			err = s.restricted()
		}
		if err != nil {
			var se *StreamError
			if !errors.As(err, &se) {
				err = s.readError(err)
			}
			s.end(err)
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // whitespace keepalive
		}
		s.mu.Lock()
		s.st.LastAlive = s.cfg.now()
		s.mu.Unlock()
		err = s.handle(d, start)
		if ge, ok := asGuardError(err); ok {
			err = s.skip(d, gr, start, ge)
		}
		if err != nil {
			s.end(err)
			return
		}
	}
}

// end ends the session for err; a stream error of ours is sent first.
func (s *Session) end(err error) {
	var se *StreamError
	if errors.As(err, &se) && se.Local {
		s.writeFinal(streamErrorXML(se.Condition, se.app))
	}
	s.fail(err)
	s.failIQs()
}

// restricted ends the stream for a comment, processing instruction or DTD
// (RFC 6120 §11.1).
func (s *Session) restricted() error {
	return &StreamError{Condition: "restricted-xml", Text: "the server sent a comment, processing instruction or DTD", Local: true}
}

// skip drops the rest of a top-level element the guard poisoned (too deep or
// too large) and reports it. A stanza is counted for XEP-0198 like one that
// was handled, in order, so that the server drops it instead of sending it
// again on every resumption; the stream goes on.
func (s *Session) skip(d *xml.Decoder, gr *guardReader, start xml.StartElement, ge *guardError) error {
	if ge.reason == guardRestricted {
		// Nothing can be read after the marker.
		return s.restricted()
	}
	for gr.depth > 0 {
		_, err := d.Token()
		if ge2, ok := asGuardError(err); ok {
			if ge2.reason == guardRestricted {
				return s.restricted()
			}
			continue
		}
		if err != nil {
			return s.decodeError(err)
		}
	}
	ev := Skipped{Kind: start.Name.Local, Reason: SkipTooLarge}
	if ge.reason == guardDepth {
		ev.Reason = SkipTooDeep
	}
	var typ string
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "id":
			ev.ID = clip(a.Value)
		case "from":
			ev.From = clip(a.Value)
		case "type":
			typ = a.Value
		}
	}
	s.log.Warn("incoming stanza skipped", slog.String("kind", ev.Kind), slog.String("reason", ev.Reason.String()))
	if start.Name.Space != nsClient {
		// A nonza is not counted.
		s.emit(ev)
		return nil
	}
	switch start.Name.Local {
	case "message", "presence":
	case "iq":
		// A request gets an error; a waiter gets an error instead of
		// the reply it cannot have.
		iq := &inIQ{ID: ev.ID, From: ev.From, Type: typ}
		if typ == "result" || typ == "error" {
			iq.Type = "error"
			iq.Nodes = []node{{XMLName: xml.Name{Local: "error"}, Nodes: []node{{XMLName: xml.Name{Space: nsStanzas, Local: "policy-violation"}}}}}
		}
		if err := s.onIQ(iq); err != nil {
			return err
		}
	default:
		return &StreamError{Condition: "unsupported-stanza-type", Text: start.Name.Local, Local: true}
	}
	s.notes.inbound(ev, nil)
	return nil
}

// clip bounds a string the server chose before it goes into an event.
func clip(v string) string {
	const max = 256
	if len(v) <= max {
		return v
	}
	v = v[:max]
	for len(v) > 0 && !utf8.ValidString(v) {
		v = v[:len(v)-1]
	}
	return v + "…"
}

func (s *Session) readError(err error) error {
	var se stream.Error
	switch {
	case errors.Is(err, ErrStanzaTooLarge):
		return &StreamError{Condition: "policy-violation", Text: err.Error(), Local: true}
	case errors.As(err, &se):
		return &StreamError{Condition: se.Err, Text: streamErrorText(se)}
	case errors.Is(err, errRestrictedXML), strings.HasPrefix(err.Error(), "disallowed XML"):
		// mellium's refusal of a comment, PI or DTD (the guard normally
		// sees them first).
		return s.restricted()
	case errors.Is(err, io.EOF):
		return &ConnError{Op: "read", Err: errors.New("the server closed the stream")}
	}
	if isSyntaxError(err) {
		return &StreamError{Condition: "not-well-formed", Text: err.Error(), Local: true}
	}
	return &ConnError{Op: "read", Err: err}
}

// isSyntaxError reports broken XML from the server. encoding/xml reports the
// connection ending inside the stream as a syntax error too: that one is the
// connection's, not the server's XML.
func isSyntaxError(err error) bool {
	var syn *xml.SyntaxError
	return errors.As(err, &syn) && syn.Msg != "unexpected EOF"
}

// handle processes one top-level element.
func (s *Session) handle(d *xml.Decoder, start xml.StartElement) error {
	switch start.Name.Space {
	case nsSM:
		el, err := parseSM(d, start)
		if _, ok := asGuardError(err); ok {
			return err
		}
		if err != nil {
			return &StreamError{Condition: "undefined-condition", Text: err.Error(), Local: true}
		}
		switch el.Name {
		case "r":
			// Answered once every stanza before it is handled.
			s.notes.answer()
			return nil
		case "a":
			return s.onAck(el.H)
		}
		return nil
	case nsClient:
	default:
		return d.Skip()
	}

	switch start.Name.Local {
	case "message":
		var m inMessage
		if err := d.DecodeElement(&m, &start); err != nil {
			return s.decodeError(err)
		}
		if b, ok := m.bounced(); ok {
			s.notes.inbound(b, nil)
			return nil
		}
		msg, ok := m.message(s.jid.Bare().String())
		archiveID := msg.StanzaID
		var fromArchive, handledLive bool
		if !ok {
			msg, archiveID, ok, fromArchive, handledLive = s.archived(&m)
			if fromArchive {
				s.mu.Lock()
				s.mamSeen++
				s.mu.Unlock()
			}
		}
		if !ok {
			s.notes.inbound(nil, s.commitArchiveID(archiveID, fromArchive))
			return nil
		}
		k, keyed := seenKey(&msg)
		s.mu.Lock()
		dup := handledLive || keyed && (s.st.seen(k) || s.pendingSeen[k])
		if keyed && !dup {
			// Seen while queued, remembered in the State once delivered:
			// a State saved in between must not call it a duplicate.
			s.pendingSeen[k] = true
		}
		s.mu.Unlock()
		commitID := s.commitArchiveID(archiveID, fromArchive)
		commit := func() {
			commitID()
			if keyed && !dup {
				delete(s.pendingSeen, k)
				s.st.remember(k)
			}
		}
		if dup {
			s.notes.inbound(Duplicate{Message: msg}, commit)
		} else {
			s.notes.inbound(Received{Message: msg}, commit)
		}
		return nil
	case "presence":
		var p inPresence
		if err := d.DecodeElement(&p, &start); err != nil {
			return s.decodeError(err)
		}
		s.notes.inbound(Presence{From: p.From, Type: p.Type}, nil)
	case "iq":
		var iq inIQ
		if err := d.DecodeElement(&iq, &start); err != nil {
			return s.decodeError(err)
		}
		if err := s.onIQ(&iq); err != nil {
			return err
		}
		s.notes.inbound(nil, nil)
	default:
		return &StreamError{Condition: "unsupported-stanza-type", Text: start.Name.Local, Local: true}
	}
	return nil
}

// commitArchiveID returns what records an archive id in the State once its
// message is handled (so that a catch-up never starts past a message the
// application did not get). While the archive is behind (State.ArchiveBehind)
// only a result of our catch-up (fromArchive) moves it: a live message
// arriving then is later than archived ones not fetched yet, and the next
// catch-up must still start before those.
func (s *Session) commitArchiveID(id string, fromArchive bool) func() {
	if id == "" {
		return func() {}
	}
	return func() { s.recordArchiveID(id, fromArchive) }
}

// decodeError classifies a failure to decode a stanza: broken XML is the
// server's fault, anything else is the connection's.
func (s *Session) decodeError(err error) error {
	if _, ok := asGuardError(err); ok {
		return err
	}
	if isSyntaxError(err) {
		return &StreamError{Condition: "not-well-formed", Text: err.Error(), Local: true}
	}
	return s.readError(err)
}

// failIQs wakes every iq waiting for a reply when the session ends.
func (s *Session) failIQs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.iqs {
		close(ch)
		delete(s.iqs, id)
	}
}

// onIQ routes a reply to its waiter and answers requests.
func (s *Session) onIQ(iq *inIQ) error {
	switch iq.Type {
	case "result", "error":
		s.mu.Lock()
		ch := s.iqs[iq.ID]
		delete(s.iqs, iq.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- iq
		}
		return nil
	case "get", "set":
	default:
		return nil
	}
	p := iq.payload()
	ok := p != nil && iq.Type == "get" && p.XMLName.Space == nsPing && p.XMLName.Local == "ping" ||
		p != nil && iq.Type == "set" && p.XMLName.Space == nsRoster && s.fromServerOrSelf(iq.From)
	err := s.sendRaw(context.Background(), "iq", iq.ID, iq.From, nil, func(id string) []byte {
		typ := "error"
		if ok {
			typ = "result"
		}
		b := append([]byte(`<iq type="`), typ...)
		b = append(b, '"')
		b = appendAttr(b, "to", iq.From)
		b = appendAttr(b, "id", id)
		if ok {
			return append(b, "/>"...)
		}
		// RFC 6120 §8.4: a request we do not understand gets an error.
		return append(b, `><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`...)
	})
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

func (s *Session) fromServerOrSelf(from string) bool {
	return from == "" || from == s.jid.Bare().String() || from == s.jid.Domain().String()
}
