package session

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp"
)

// Pipelining: after SASL succeeds the client must open a new stream and wait
// for the server's features before it binds or resumes. Nothing it would then
// send depends on those features when the State already says what the server
// offers, so the <resume/> (or the bind request and <enable/>) go out in the
// same write as the new stream header, saving a round trip. The server
// processes them in order, after the header.

// pipeConn is the TLS connection as mellium sees it. When armed, it appends
// bytes to the next write that opens a stream.
//
// It also runs the guard (guard.go) on what it reads, so that what mellium's
// decoder sees is bounded in depth and size.
type pipeConn struct {
	net.Conn
	mu    sync.Mutex
	armed []byte

	// The guard and its buffers belong to the reader (one at a time:
	// negotiation, then the read loop). restart is set by a write that
	// opens a new stream, and read by the reader.
	g       *guard
	restart atomic.Bool
	in      []byte
	out     []byte
	pend    []byte
	rerr    error
}

func newPipeConn(c net.Conn, maxBytes int) *pipeConn {
	return &pipeConn{Conn: c, g: newGuard(maxBytes), in: make([]byte, 4096)}
}

// Read passes on what the guard lets through. A read that the guard drops
// whole reads again: an element past the cap is discarded as it streams.
func (p *pipeConn) Read(b []byte) (int, error) {
	if p.g == nil {
		return p.Conn.Read(b)
	}
	for {
		if len(p.pend) > 0 {
			n := copy(b, p.pend)
			p.pend = p.pend[n:]
			return n, nil
		}
		if p.rerr != nil {
			return 0, p.rerr
		}
		if p.restart.Swap(false) {
			p.g.reset()
		}
		n, err := p.Conn.Read(p.in)
		var gerr error
		p.out, gerr = p.g.feed(p.out[:0], p.in[:n])
		p.pend = p.out
		if gerr != nil {
			p.rerr = gerr
		} else if err != nil {
			p.rerr = err
		}
	}
}

// ConnectionState lets mellium and SASL see the TLS state (channel binding).
func (p *pipeConn) ConnectionState() tls.ConnectionState {
	if tc, ok := p.Conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// arm makes the next stream header carry b.
func (p *pipeConn) arm(b []byte) {
	p.mu.Lock()
	p.armed = b
	p.mu.Unlock()
}

var streamOpen = []byte("<stream:stream")

func (p *pipeConn) Write(b []byte) (int, error) {
	opens := bytes.Contains(b, streamOpen)
	if opens {
		p.restart.Store(true)
	}
	p.mu.Lock()
	extra := p.armed
	if extra != nil && opens {
		p.armed = nil
	} else {
		extra = nil
	}
	p.mu.Unlock()
	if extra == nil {
		return p.Conn.Write(b)
	}
	buf := make([]byte, 0, len(b)+len(extra))
	buf = append(append(buf, b...), extra...)
	if _, err := p.Conn.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// bindRequest is the resource-binding iq with the given id.
func bindRequest(id string) []byte {
	return []byte(`<iq type="set" id="` + id + `"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`)
}

// readBind reads the answer to a bind request and returns the bound JID.
func readBind(xs *xmpp.Session, id string) (string, error) {
	r := xs.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	start, err := nextStart(d, "while binding a resource")
	if err != nil {
		return "", err
	}
	if start.Name.Local != "iq" {
		return "", fmt.Errorf("session: unexpected <%s/> while binding a resource", start.Name.Local)
	}
	var iq inIQ
	if err := d.DecodeElement(&iq, &start); err != nil {
		return "", err
	}
	if iq.ID != id {
		return "", fmt.Errorf("session: unexpected iq %q while binding a resource", iq.ID)
	}
	if iq.Type == "error" {
		return "", fmt.Errorf("session: the server refused to bind a resource: %s", iq.stanzaError())
	}
	if p := iq.payload(); p != nil {
		for _, c := range p.Nodes {
			if c.XMLName.Local == "jid" {
				return c.Text, nil
			}
		}
	}
	return "", fmt.Errorf("session: bind result without a JID")
}
