package session

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Archive catch-up (XEP-0313). When a stream cannot be resumed, what the
// server had queued for it goes to offline storage, or, once the client has
// queried its archive, only to the archive (Prosody's rule). After such a
// fresh login the session asks the archive for everything after the last
// archived message it handled, and delivers what it finds through the same
// de-duplication (State.Seen) as offline storage, so each message reaches the
// application once whichever way it comes.
//
// A catch-up that does not finish (a timeout, its page bound, a refused page,
// a lost connection) leaves the archive behind (State.ArchiveBehind): live
// messages then arrive while older ones still wait in the archive, and the
// next catch-up meets the live ones again, after those. Seen remembers only
// the last SeenCap messages, so the live ones are also recorded as spans
// (State.ArchiveLive, the first and last archive id of each connection's
// run): a result that opens a span is a Duplicate, and so is every result
// up to the span's last, past which the catch-up jumps.

const (
	nsMAM     = "urn:xmpp:mam:2"
	nsForward = "urn:xmpp:forward:0"
	nsRSM     = "http://jabber.org/protocol/rsm"
	// mamPage is how many archived messages one query asks for.
	mamPage = 100
	// mamMaxPages bounds a catch-up.
	mamMaxPages = 50
	// archiveLiveCap bounds State.ArchiveLive.
	archiveLiveCap = 16
)

// ArchiveSpan is a run of messages delivered live, in archive order, named
// by the archive ids (XEP-0359 stanza-ids by the account) of its first and
// last message: every message the archive holds between them reached the
// application on the same connection. See State.ArchiveLive.
type ArchiveSpan struct {
	First, Last string
}

// mamResult is <result xmlns='urn:xmpp:mam:2' queryid id><forwarded>…
type mamResult struct {
	QueryID   string `xml:"queryid,attr"`
	ID        string `xml:"id,attr"`
	Forwarded struct {
		Delay struct {
			Stamp string `xml:"stamp,attr"`
		} `xml:"urn:xmpp:delay delay"`
		Message inMessage `xml:"jabber:client message"`
	} `xml:"urn:xmpp:forward:0 forwarded"`
}

// archived turns a MAM result carried by m into the archived message, if m
// answers one of our queries (isResult); deliver says whether it is a chat
// message for the application (not our own outgoing one), handledLive that
// it was delivered live already (a span of State.ArchiveLive).
func (s *Session) archived(m *inMessage) (msg Message, archiveID string, deliver, isResult, handledLive bool) {
	self := s.jid.Bare().String()
	if m.From != "" && m.From != self {
		return Message{}, "", false, false, false // results come from our own account only
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if n.XMLName.Space != nsMAM || n.XMLName.Local != "result" {
			continue
		}
		var r mamResult
		raw, err := xml.Marshal(n)
		if err != nil || xml.Unmarshal(raw, &r) != nil {
			return Message{}, "", false, false, false
		}
		s.mu.Lock()
		ours := s.mamQuery != "" && r.QueryID == s.mamQuery
		live := ours && s.handledLive(r.ID)
		s.mu.Unlock()
		if !ours {
			return Message{}, "", false, false, false
		}
		inner, ok := r.Forwarded.Message.message(self)
		if !ok {
			return Message{}, r.ID, false, true, false // archived, but not a chat message
		}
		if inner.Delay.IsZero() {
			if t, err := time.Parse(time.RFC3339Nano, r.Forwarded.Delay.Stamp); err == nil {
				inner.Delay = t
			}
		}
		inner.StanzaID = r.ID
		if bare(inner.From) == self {
			// Our own outgoing message, archived too: not for delivery.
			return Message{}, r.ID, false, true, false
		}
		return inner, r.ID, true, true, live
	}
	return Message{}, "", false, false, false
}

// handledLive reports whether the archive result id, read in order, was
// delivered live: it opens a span of State.ArchiveLive, or comes after the
// first of the span the catch-up is in, up to its last. s.mu is held.
func (s *Session) handledLive(id string) bool {
	if s.mamSkip != nil {
		if id == s.mamSkip.Last {
			s.mamSkip = nil
		}
		return true
	}
	for _, sp := range s.st.ArchiveLive {
		if sp.First == id {
			if sp.Last != id {
				s.mamSkip = &sp
			}
			return true
		}
	}
	return false
}

func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// catchUp pages through the archive after since (an archive id), or from
// start when since is empty, and reports whether it reached the end. A
// server without an archive answers with an error, which ends the catch-up
// quietly (and counts as finished).
func (s *Session) catchUp(ctx context.Context, since string, start time.Time) (total int, finished bool, err error) {
	for page := 0; page < mamMaxPages; page++ {
		qid := NewID()
		s.mu.Lock()
		s.mamQuery = qid
		s.mamSkip = nil
		s.mu.Unlock()
		var form string
		if since == "" {
			form = `<field var="start"><value>` + delayStamp(start) + `</value></field>`
		}
		var after string
		if since != "" {
			after = `<after>` + string(appendEscaped(nil, since)) + `</after>`
		}
		q := `<query xmlns="urn:xmpp:mam:2" queryid="` + qid + `"><x xmlns="jabber:x:data" type="submit">` +
			`<field var="FORM_TYPE" type="hidden"><value>urn:xmpp:mam:2</value></field>` + form + `</x>` +
			`<set xmlns="http://jabber.org/protocol/rsm"><max>` + fmt.Sprint(mamPage) + `</max>` + after + `</set></query>`
		reply, err := s.iq(ctx, "set", "", q)
		if err != nil {
			// An error for the first page: no archive to catch up
			// from (nothing is behind). For a later one the archive
			// still holds the rest.
			var ie *iqError
			return total, page == 0 && errors.As(err, &ie), err
		}
		// The results came before the reply: they were read and counted
		// by then (mamSeen), and queued for the application in order.
		var complete bool
		var last string
		if p := reply.payload(); p != nil && p.XMLName.Space == nsMAM && p.XMLName.Local == "fin" {
			complete = p.attr("complete") == "true"
			for _, c := range p.Nodes {
				if c.XMLName.Space == nsRSM && c.XMLName.Local == "set" {
					for _, cc := range c.Nodes {
						switch cc.XMLName.Local {
						case "last":
							last = cc.Text
						case "count":
						}
					}
				}
			}
		}
		s.mu.Lock()
		total += s.mamSeen
		s.mamSeen = 0
		jump := s.mamSkip
		s.mamSkip = nil
		s.mu.Unlock()
		if complete || last == "" || last == since {
			finished = true
			break
		}
		if jump != nil {
			// The page ended inside a span delivered live: go on
			// after its last message, recorded as the last handled
			// once the results before it are.
			last = jump.Last
			s.notes.later(func() {
				s.mu.Lock()
				s.recordArchiveID(last, true)
				s.mu.Unlock()
			})
		}
		since = last
	}
	s.mu.Lock()
	s.mamQuery = ""
	s.mamSkip = nil
	s.mu.Unlock()
	s.log.Debug("archive catch-up done", slog.Int("messages", total), slog.Bool("finished", finished))
	return total, finished, nil
}

// recordArchiveID records, once its message is handled (s.mu held), the
// archive id of a message: a result of our catch-up (fromArchive) or a live
// message. See commitArchiveID.
func (s *Session) recordArchiveID(id string, fromArchive bool) {
	st := s.st
	switch {
	case fromArchive:
		st.LastArchiveID = id
		st.ArchiveStart = time.Time{} // the next catch-up starts after id
		// The catch-up is past the span that ends at id, and past
		// every one before it.
		for i, sp := range st.ArchiveLive {
			if sp.Last == id {
				st.ArchiveLive = append([]ArchiveSpan(nil), st.ArchiveLive[i+1:]...)
				break
			}
		}
	case !st.ArchiveBehind:
		st.LastArchiveID = id
	default:
		// Live while the archive is behind: this connection's span
		// grows, or one starts.
		for i := range st.ArchiveLive {
			if s.liveFirst != "" && st.ArchiveLive[i].First == s.liveFirst {
				st.ArchiveLive[i].Last = id
				return
			}
		}
		if len(st.ArchiveLive) >= archiveLiveCap {
			st.ArchiveLive = append([]ArchiveSpan(nil), st.ArchiveLive[1:]...)
		}
		st.ArchiveLive = append(st.ArchiveLive, ArchiveSpan{First: id, Last: id})
		s.liveFirst = id
	}
}
