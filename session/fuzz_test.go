package session

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSM feeds arbitrary XML to the XEP-0198 element parser: it must
// never panic, and what it accepts must be consistent.
func FuzzParseSM(f *testing.F) {
	for _, s := range []string{
		`<a xmlns='urn:xmpp:sm:3' h='0'/>`,
		`<a xmlns='urn:xmpp:sm:3' h='4294967295'/>`,
		`<r xmlns='urn:xmpp:sm:3'/>`,
		`<enabled xmlns='urn:xmpp:sm:3' id='abc' resume='true' max='600' location='[::1]:5222'/>`,
		`<resumed xmlns='urn:xmpp:sm:3' previd='abc' h='12'/>`,
		`<failed xmlns='urn:xmpp:sm:3' h='3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`,
		`<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>x</text></failed>`,
		`<a xmlns='urn:xmpp:sm:3' h='-1'/>`,
		`<enabled xmlns='urn:xmpp:sm:3' max='1e9'/>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, start, ok := firstStart(in)
		if !ok {
			return
		}
		el, err := parseSM(d, start)
		if err != nil {
			return
		}
		if el.Name == "a" || el.Name == "resumed" {
			if !el.HSet {
				t.Fatalf("accepted <%s/> without h: %q", el.Name, in)
			}
			// The h we accepted is the one on the wire.
			for _, a := range start.Attr {
				if a.Name.Local == "h" && a.Name.Space == "" {
					if v, _ := strconv.ParseUint(a.Value, 10, 32); uint32(v) != el.H {
						t.Fatalf("h = %d, attribute %q", el.H, a.Value)
					}
				}
			}
		}
	})
}

// FuzzAck checks the acknowledgement arithmetic: any h either drops exactly
// (h − last) mod 2^32 stanzas from the front, or is refused without a change.
func FuzzAck(f *testing.F) {
	f.Add(uint32(0), uint32(0), uint8(0))
	f.Add(uint32(4294967295), uint32(4294967294), uint8(3))
	f.Add(uint32(1), uint32(4294967295), uint8(2))
	f.Add(uint32(10), uint32(5), uint8(4))
	f.Fuzz(func(t *testing.T, last, h uint32, n uint8) {
		st := &State{OutH: last}
		for i := range int(n) {
			st.Unacked = append(st.Unacked, Stanza{Kind: "iq", ID: strconv.Itoa(i), Raw: []byte("<iq/>")})
		}
		acked, err := st.ack(h)
		want := h - last
		if uint64(want) > uint64(n) {
			if err == nil {
				t.Fatalf("ack(%d) with last %d and %d unacked accepted", h, last, n)
			}
			if st.OutH != last || len(st.Unacked) != int(n) {
				t.Fatalf("refused ack changed the state")
			}
			return
		}
		if err != nil {
			t.Fatalf("ack(%d) last %d n %d: %v", h, last, n, err)
		}
		if uint32(len(acked)) != want || len(st.Unacked) != int(n)-int(want) || st.OutH != h {
			t.Fatalf("ack(%d) last %d n %d: acked %d left %d", h, last, n, len(acked), len(st.Unacked))
		}
		for i, s := range acked {
			if s.ID != strconv.Itoa(i) {
				t.Fatalf("acked out of order: %v", acked)
			}
		}
	})
}

// FuzzLoadState feeds arbitrary bytes to the state-file parser: never a
// panic, never a resumable state out of a file it calls unusable, and never an
// invalid stanza.
func FuzzLoadState(f *testing.F) {
	st := &State{ID: "x", JID: "a@b/c", InH: 3, Unacked: []Stanza{{Kind: "iq", ID: "1", Raw: []byte("<iq/>")}}}
	b, _ := xml.Marshal(st)
	f.Add(b)
	f.Add([]byte(`{"version":1,"account":"a@b","ID":"x","Unacked":[{"Kind":"message","ID":"1","Raw":"PG1lc3NhZ2UvPg==","Message":{"id":"1","to":"b@c","body":"hi"}}]}`))
	f.Add([]byte(`{"version":2,"Orphans":[{"Kind":"iq","Raw":"eA=="},{"Kind":7}]}`))
	f.Add([]byte(`{"version":1,"account":"a@b","Max":-5}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := parseState(in, "a@b")
		if st == nil {
			t.Fatal("nil state")
		}
		if err != nil && st.ID != "" {
			t.Fatalf("unusable file gave a resumable state")
		}
		for _, q := range append(st.Unacked, st.Orphans...) {
			if q.validate() != nil {
				t.Fatalf("invalid stanza kept: %+v", q)
			}
		}
	})
}

// guardRun feeds in through a guard in the given chunks.
func guardRun(g *guard, in []byte, cuts []int) ([]byte, error) {
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if c < prev || c > len(in) {
			continue
		}
		var err error
		if out, err = g.feed(out, in[prev:c]); err != nil {
			return out, err
		}
		prev = c
	}
	return out, nil
}

// FuzzGuard feeds arbitrary stream content, at any depth and size, through
// the guard under the stanza decoder and then through the decoder itself,
// as the read loop does. The guard must never panic, never depend on how
// the bytes were split into reads, never make a well-formed stream
// ill-formed, and what it lets through must be bounded in depth and size;
// a well-formed stream it did not need to touch goes through unchanged.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		`<message id='1'><body>hi &apos; é</body></message>`,
		`<message><body>` + strings.Repeat("&apos;", 40) + `</body></message><presence/>`,
		`<message>` + strings.Repeat("<x>", 300) + strings.Repeat("</x>", 300) + `</message>`,
		`<iq type='get' id='a'><q a='&gt;"' b="'/>">` + strings.Repeat("<y/>", 30) + `</q></iq>`,
		`<message><body><![CDATA[<a>]]]]>` + strings.Repeat("x", 100) + `</body></message>`,
		`<!-- c --><message/>`,
		`<message><?pi x?></message>`,
		`<!DOCTYPE x [<!ENTITY e "e">]><message/>`,
		` <r xmlns='urn:xmpp:sm:3'/>` + strings.Repeat(" ", 5000),
		`<message><body>` + strings.Repeat("ab&amp;", 30) + `</body></message>`,
	} {
		f.Add(s, uint16(64), uint16(7))
	}
	const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	f.Fuzz(func(t *testing.T, body string, max, cut uint16) {
		maxBytes := 32 + int(max)%4096
		in := []byte(header + body + `</stream:stream>`)
		g := newGuard(maxBytes)
		out, err := guardRun(g, in, nil)
		cuts := []int{int(cut) % (len(in) + 1), int(cut)*7%(len(in)+1) + 1}
		if cuts[1] < cuts[0] {
			cuts[0], cuts[1] = cuts[1], cuts[0]
		}
		g2 := &guard{maxBytes: maxBytes, ns: g.ns}
		out2, err2 := guardRun(g2, in, cuts)
		if string(out) != string(out2) || (err == nil) != (err2 == nil) {
			t.Fatalf("output depends on the reads: %q/%v vs %q/%v", out, err, out2, err2)
		}

		wellFormed := func(b []byte) bool {
			d := xml.NewDecoder(bytes.NewReader(b))
			for {
				tok, err := d.Token()
				if err == io.EOF {
					return true
				}
				if err != nil {
					return false
				}
				switch tok.(type) {
				case xml.Comment, xml.Directive:
					return false
				case xml.ProcInst:
					if d.InputOffset() > int64(len(`<?xml version='1.0'?>`)) {
						return false
					}
				}
			}
		}
		marked := bytes.Contains(out, []byte(g.ns))
		if err == nil && !g.dead && wellFormed(in) {
			if !wellFormed(out) {
				t.Fatalf("the guard broke a well-formed stream:\nin  %q\nout %q", in, out)
			}
			// Stream-level text past maxStreamText is cut by design (an
			// endless keepalive); any longer run of text may be one.
			if !marked && longestTextRun(in) <= maxStreamText && !bytes.Equal(in, out) {
				t.Fatalf("the guard changed a stream it did not mark:\nin  %q\nout %q", in, out)
			}
		}

		// What the decoder gets is bounded, and markers come out as
		// guard errors, in stream order.
		gr := &guardReader{r: xml.NewDecoder(bytes.NewReader(out)), ns: g.ns}
		d := xml.NewTokenDecoder(gr)
		for {
			tok, err := d.Token()
			if _, ok := asGuardError(err); ok {
				continue
			}
			if err != nil {
				break
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				if gr.depth > MaxStanzaDepth+1 {
					t.Fatalf("depth %d got through", gr.depth)
				}
			case xml.CharData:
				if len(tok) > maxBytes && len(tok) > maxStreamText {
					t.Fatalf("a text of %d bytes got through (cap %d)", len(tok), maxBytes)
				}
			}
		}
	})
}

// longestTextRun is the length of the longest run of bytes between a '>' and
// the next '<': an upper bound on any text node, stream-level or not.
func longestTextRun(b []byte) int {
	longest, run := 0, 0
	for _, c := range b {
		switch c {
		case '<', '>':
			run = 0
		default:
			run++
			longest = max(longest, run)
		}
	}
	return longest
}

// FuzzParseSASL2 feeds arbitrary XML to the SASL2 parsers (challenge,
// success, failure; stream features): they must never panic, and a success
// they accept must be consistent.
func FuzzParseSASL2(f *testing.F) {
	for _, s := range []string{
		`<challenge xmlns='urn:xmpp:sasl:2'>cj1hYmMscz1jMkZzZEE9PSxpPTQwOTYsaD1hYmM9</challenge>`,
		`<success xmlns='urn:xmpp:sasl:2'><additional-data>dj1hYmM=</additional-data><authorization-identifier>a@b/c</authorization-identifier>` +
			`<bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='x' resume='1' max='600'/></bound>` +
			`<token xmlns='urn:xmpp:fast:0' token='t' expiry='2026-12-01T00:00:00Z'/></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><additional-data>=</additional-data><resumed xmlns='urn:xmpp:sm:3' h='3' previd='x'/></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><failed xmlns='urn:xmpp:sm:3'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></failed><bound xmlns='urn:xmpp:bind:0'/></success>`,
		`<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>no</text></failure>`,
		`<success xmlns='urn:xmpp:sasl:2'><additional-data>!!</additional-data></success>`,
		`<stream:features xmlns:stream='http://etherx.jabber.org/streams'><authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1</mechanism>` +
			`<inline><fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-EXPR</mechanism></fast><bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:sm:3'/></inline></bind><sm xmlns='urn:xmpp:sm:3'/></inline>` +
			`</authentication><sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding></stream:features>`,
		`<stream:features xmlns:stream='http://etherx.jabber.org/streams'><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>262144</max-bytes><idle-seconds>600</idle-seconds></limits></stream:features>`,
		`<stream:features xmlns:stream='http://etherx.jabber.org/streams'><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>-1</max-bytes><max-bytes>99999999999999999999</max-bytes></limits></stream:features>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, start, ok := firstStart(in)
		if !ok {
			return
		}
		if start.Name.Local == "features" {
			f, err := parseFeatures(d, start)
			if err != nil {
				return
			}
			if f.MaxBytes != 0 && f.MaxBytes < minServerLimit {
				t.Fatalf("a stanza limit under XEP-0478's floor taken: %d from %q", f.MaxBytes, in)
			}
			if f.SASL2 != nil {
				_, _ = checkDowngrade([]byte(in), "SCRAM-SHA-1", f.SASL2.Mechanisms, f.SASL2.ChannelBindings)
			}
			return
		}
		r, err := parseSASL2(d, start)
		if err != nil {
			return
		}
		if r.Resumed != nil && r.ResumeFailed != nil {
			t.Fatalf("accepted both <resumed/> and <failed/>: %q", in)
		}
		if r.Resumed != nil && !r.Resumed.HSet {
			t.Fatalf("accepted <resumed/> without h: %q", in)
		}
		if r.Token == "" && strings.Contains(in, "urn:xmpp:fast:0") && strings.Contains(in, "<token") && start.Name.Local == "success" && r.Expiry != "" {
			t.Fatalf("an expiry without a token: %q", in)
		}
		if start.Name.Local == "failure" && r.Condition == "" {
			t.Fatalf("a failure without a condition: %q", in)
		}
	})
}

// firstStart decodes in up to its first start element, for the fuzzers
// whose parsers take the decoder after it; ok is false when there is none.
func firstStart(in string) (d *xml.Decoder, start xml.StartElement, ok bool) {
	d = xml.NewDecoder(strings.NewReader(in))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, start, false
		}
		if s, ok := tok.(xml.StartElement); ok {
			return d, s, true
		}
	}
}
