package session_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// fake is a scripted XMPP server on one end of a net.Pipe. It negotiates a
// plaintext stream (SASL PLAIN, bind, optional XEP-0198) and then hands every
// top-level element the client sends to the test, in order. Tests write raw
// XML to the client with send.
type fake struct {
	t    testing.TB
	conn net.Conn
	d    *xml.Decoder

	// Negotiation script; zero values give a plain successful login.
	noSM     bool   // do not offer urn:xmpp:sm:3
	csi      bool   // offer urn:xmpp:csi:0
	enabled  string // answer to <enable/>; default enabled id=RID max=600
	resume   func(previd string, h uint32) string
	boundJID string
	authFail string // SASL failure condition
	mam      bool   // the test answers archive queries
	sasl2    string // extra first features, e.g. a SASL2 offer without Bind2

	elems   chan elem
	resumes []string      // the <resume/> elements received
	ended   chan struct{} // closed when the client ends its stream (made by connect)
	endOnce sync.Once
	wmu     sync.Mutex
}

// elem is a top-level element from the client.
type elem struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []elem     `xml:",any"`
}

func (e elem) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e elem) child(local string) (elem, bool) {
	for _, c := range e.Nodes {
		if c.XMLName.Local == local {
			return c, true
		}
	}
	return elem{}, false
}

func (e elem) String() string {
	b, _ := xml.Marshal(e)
	return string(b)
}

// pipeDial returns a Dial function that hands the client one end of a pipe
// and runs f on the other.
func pipeDial(f *fake) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, s := net.Pipe()
		f.conn = s
		f.d = xml.NewDecoder(s)
		if f.elems == nil {
			f.elems = make(chan elem, 1024)
		}
		go f.serve()
		return c, nil
	}
}

func testConfig(f *fake, events func(session.Event)) session.Config {
	cfg := session.Config{
		JID:      "alice@example.org",
		Password: "secret",
		Addr:     "example.org:5222",
		Dial:     pipeDial(f),
		OnEvent:  events,
		// The scripted server answers only what a test scripts: the
		// ack timeout would end sessions that wait on purpose. Its own
		// tests turn it on (acktimeout_test.go).
		AckTimeout: -1,
	}
	session.Plaintext(&cfg)
	return cfg
}

func (f *fake) send(s string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	// A write fails once the client has closed the connection; the tests
	// check the client's side of that.
	_, _ = io.WriteString(f.conn, s)
}

const streamHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='%s' from='example.org' version='1.0'>`

// readStart reads until the next start element.
func (f *fake) readStart() (xml.StartElement, error) {
	for {
		tok, err := f.d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
		if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "stream" && f.ended != nil {
			f.endOnce.Do(func() { close(f.ended) })
		}
	}
}

func (f *fake) readElem() (elem, error) {
	start, err := f.readStart()
	if err != nil {
		return elem{}, err
	}
	var e elem
	err = f.d.DecodeElement(&e, &start)
	return e, err
}

func (f *fake) serve() {
	defer close(f.elems)
	// Stream 1: SASL.
	if _, err := f.readStart(); err != nil {
		return
	}
	f.send(fmt.Sprintf(streamHeader, "s1") + `<stream:features>` + f.sasl2 + `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`)
	if _, err := f.readElem(); err != nil {
		return
	}
	if f.authFail != "" {
		f.send(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><` + f.authFail + `/></failure>`)
		return
	}
	f.send(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	// Stream 2: bind and stream management.
	if _, err := f.readStart(); err != nil {
		return
	}
	feats := `<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>`
	if !f.noSM {
		feats += `<sm xmlns='urn:xmpp:sm:3'/>`
	}
	if f.csi {
		feats += `<csi xmlns='urn:xmpp:csi:0'/>`
	}
	f.send(fmt.Sprintf(streamHeader, "s2") + `<stream:features>` + feats + `</stream:features>`)
	for {
		e, err := f.readElem()
		if err != nil {
			return
		}
		switch {
		case e.XMLName.Local == "resume":
			f.resumes = append(f.resumes, e.String())
			reply := `<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`
			if f.resume != nil {
				var h uint32
				fmt.Sscan(e.attr("h"), &h)
				reply = f.resume(e.attr("previd"), h)
			}
			f.send(reply)
			if strings.Contains(reply, "<resumed") {
				f.pump()
				return
			}
		case e.XMLName.Local == "iq":
			j := f.boundJID
			if j == "" {
				j = "alice@example.org/res1"
			}
			f.send(`<iq type='result' id='` + e.attr("id") + `'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>` + j + `</jid></bind></iq>`)
			if f.noSM {
				f.pump()
				return
			}
		case e.XMLName.Local == "enable":
			reply := f.enabled
			if reply == "" {
				reply = `<enabled xmlns='urn:xmpp:sm:3' id='RID-secret' resume='true' max='600'/>`
			}
			f.send(reply)
			f.pump()
			return
		default:
			f.t.Errorf("fake: unexpected %s during negotiation", e)
			return
		}
	}
}

// pump hands every further element to the test. An archive query (XEP-0313)
// gets an error, as from a server without an archive, unless the test
// answers archive queries itself (mam).
func (f *fake) pump() {
	for {
		e, err := f.readElem()
		if err != nil {
			return
		}
		if q, ok := e.child("query"); ok && !f.mam && e.XMLName.Local == "iq" && q.XMLName.Space == "urn:xmpp:mam:2" {
			f.send(`<iq type='error' id='` + e.attr("id") + `'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
			continue
		}
		f.elems <- e
	}
}

// next returns the next element the client sent.
func (f *fake) next() elem {
	f.t.Helper()
	select {
	case e, ok := <-f.elems:
		if !ok {
			f.t.Fatalf("fake: client closed the stream")
		}
		return e
	case <-time.After(5 * time.Second):
		f.t.Fatalf("fake: nothing from the client")
	}
	return elem{}
}

// expect returns the next element and checks its local name.
func (f *fake) expect(local string) elem {
	f.t.Helper()
	e := f.next()
	if e.XMLName.Local != local {
		f.t.Fatalf("fake: got %s, want <%s/>", e, local)
	}
	return e
}

// expectSkipping returns the next element named local, skipping <r/>.
func (f *fake) expectSkippingR(local string) elem {
	f.t.Helper()
	for {
		e := f.next()
		if e.XMLName.Local == "r" && local != "r" {
			continue
		}
		if e.XMLName.Local != local {
			f.t.Fatalf("fake: got %s, want <%s/>", e, local)
		}
		return e
	}
}

// collector gathers session events.
type collector struct {
	mu     sync.Mutex
	events []session.Event
}

func (c *collector) on(e session.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

func (c *collector) all() []session.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]session.Event(nil), c.events...)
}

// connectAsync runs Connect on a goroutine, for tests that play the server's
// part of the login meanwhile; the channel gets the session (nil when
// Connect failed, which fails the test: see awaitSession).
func connectAsync(t *testing.T, cfg session.Config, st *session.State) <-chan *session.Session {
	t.Helper()
	done := make(chan *session.Session, 1)
	go func() {
		s, err := session.Connect(context.Background(), cfg, st)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	return done
}

// awaitSession returns the session connectAsync made, and ends the test
// when Connect failed (the failure is reported already).
func awaitSession(t *testing.T, done <-chan *session.Session) *session.Session {
	t.Helper()
	s := <-done
	if s == nil {
		t.FailNow()
	}
	return s
}
