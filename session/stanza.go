package session

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"time"
)

// Namespaces used on the wire.
const (
	nsClient  = "jabber:client"
	nsSM      = "urn:xmpp:sm:3"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsCSI     = "urn:xmpp:csi:0"
	nsPing    = "urn:xmpp:ping"
	nsDelay   = "urn:xmpp:delay"
	nsSID     = "urn:xmpp:sid:0"
	nsRoster  = "jabber:iq:roster"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsStream  = "http://etherx.jabber.org/streams"
)

// Message is a chat message, sent or received.
type Message struct {
	// ID is the stanza id.
	ID string `json:"id"`
	// From is the sender's JID (empty on messages we send).
	From string `json:"from,omitempty"`
	// To is the recipient's JID.
	To string `json:"to"`
	// Type is the message type; "chat" when empty.
	Type string `json:"type,omitempty"`
	// Body is the text of the message.
	Body string `json:"body"`
	// OriginID is the sender's XEP-0359 origin-id: stable across resends,
	// so a receiver can drop a duplicate. Every message xmppbg sends has one.
	OriginID string `json:"origin_id,omitempty"`
	// StanzaID is the id the receiving server gave the message (XEP-0359
	// stanza-id), empty when it gave none.
	StanzaID string `json:"stanza_id,omitempty"`
	// Delay is the XEP-0203 delay stamp: when the message was first sent, set
	// on messages that were stored (offline storage, a resend after a failed
	// resumption) rather than delivered live. Zero otherwise.
	Delay time.Time `json:"delay,omitzero"`
}

// Delayed reports whether the message carries a XEP-0203 delay.
func (m Message) Delayed() bool { return !m.Delay.IsZero() }

// NewID returns a random stanza id (96 bits, hex): what SendMessage uses
// when a message has none, for callers that need the id before a session
// exists.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// delayStamp formats t as an XEP-0082 DateTime in UTC with milliseconds.
func delayStamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// appendEscaped appends s, escaped for use in XML text or a quoted attribute.
func appendEscaped(b []byte, s string) []byte {
	var buf bytes.Buffer
	// EscapeText escapes <, >, &, ', " and the control characters that XML
	// forbids (as U+FFFD), so the result is safe in both places.
	_ = xml.EscapeText(&buf, []byte(s))
	return append(b, buf.Bytes()...)
}

func appendAttr(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value)
	return append(b, '"')
}

// encodeMessage serialises m. With a non-zero delay it carries an XEP-0203
// delay element stamped then, from the sender's bare JID.
func encodeMessage(m *Message, delay time.Time, from string) []byte {
	b := make([]byte, 0, 160+len(m.Body))
	b = append(b, "<message"...)
	b = appendAttr(b, "to", m.To)
	b = appendAttr(b, "id", m.ID)
	typ := m.Type
	if typ == "" {
		typ = "chat"
	}
	b = appendAttr(b, "type", typ)
	b = append(b, "><body>"...)
	b = appendEscaped(b, m.Body)
	b = append(b, "</body>"...)
	if m.OriginID != "" {
		b = append(b, `<origin-id xmlns="urn:xmpp:sid:0"`...)
		b = appendAttr(b, "id", m.OriginID)
		b = append(b, "/>"...)
	}
	if !delay.IsZero() {
		b = append(b, `<delay xmlns="urn:xmpp:delay"`...)
		b = appendAttr(b, "from", from)
		b = appendAttr(b, "stamp", delayStamp(delay))
		b = append(b, "/>"...)
	}
	return append(b, "</message>"...)
}

// node is a generic XML element, used for payloads we do not model.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n *node) attr(local string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// inMessage is the decoded form of an incoming <message/>.
type inMessage struct {
	XMLName xml.Name `xml:"jabber:client message"`
	ID      string   `xml:"id,attr"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	Type    string   `xml:"type,attr"`
	Body    *string  `xml:"jabber:client body"`
	Nodes   []node   `xml:",any"`
}

// message converts m into a Message. It reports false for messages without a
// body (chat states, receipts, errors) which are not chat messages.
func (m *inMessage) message(self string) (Message, bool) {
	if m.Body == nil || m.Type == "error" {
		return Message{}, false
	}
	out := Message{ID: m.ID, From: m.From, To: m.To, Type: m.Type, Body: *m.Body}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		switch n.XMLName {
		case xml.Name{Space: nsSID, Local: "origin-id"}:
			out.OriginID = n.attr("id")
		case xml.Name{Space: nsSID, Local: "stanza-id"}:
			// Only the id our own server set can be trusted (XEP-0359 §5).
			if n.attr("by") == self {
				out.StanzaID = n.attr("id")
			}
		case xml.Name{Space: nsDelay, Local: "delay"}:
			if t, err := time.Parse(time.RFC3339Nano, n.attr("stamp")); err == nil {
				out.Delay = t
			}
		}
	}
	return out, true
}

// bounced returns the Bounced event of an error reply (type "error"), with
// the values the server chose clipped; false for any other message.
func (m *inMessage) bounced() (Bounced, bool) {
	if m.Type != "error" {
		return Bounced{}, false
	}
	b := Bounced{ID: clip(m.ID), From: clip(m.From), Condition: "undefined-condition"}
	for i := range m.Nodes {
		if m.Nodes[i].XMLName.Local != "error" {
			continue
		}
		for _, c := range m.Nodes[i].Nodes {
			switch {
			case c.XMLName.Space != nsStanzas:
			case c.XMLName.Local == "text":
				b.Text = clip(c.Text)
			default:
				b.Condition = clip(c.XMLName.Local)
			}
		}
		break
	}
	return b, true
}

// inIQ is the decoded form of an incoming <iq/>.
type inIQ struct {
	XMLName xml.Name `xml:"jabber:client iq"`
	ID      string   `xml:"id,attr"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	Type    string   `xml:"type,attr"`
	Nodes   []node   `xml:",any"`
}

// payload returns the iq's first child that is not an error, if any.
func (iq *inIQ) payload() *node {
	for i := range iq.Nodes {
		if iq.Nodes[i].XMLName.Local != "error" {
			return &iq.Nodes[i]
		}
	}
	return nil
}

// stanzaError returns the defined condition of an error iq, or "".
func (iq *inIQ) stanzaError() string {
	for i := range iq.Nodes {
		if iq.Nodes[i].XMLName.Local != "error" {
			continue
		}
		for _, c := range iq.Nodes[i].Nodes {
			if c.XMLName.Space == nsStanzas && c.XMLName.Local != "text" {
				return c.XMLName.Local
			}
		}
		return "undefined-condition"
	}
	return ""
}

// inPresence is the decoded form of an incoming <presence/>.
type inPresence struct {
	XMLName xml.Name `xml:"jabber:client presence"`
	From    string   `xml:"from,attr"`
	Type    string   `xml:"type,attr"`
}
