package session_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// nested returns a message whose body is followed by n nested elements, so
// that the stanza is n+1 deep.
func nested(id string, n int) string {
	return `<message from='mallory@example.org/x' type='chat' id='` + id + `'><body>deep</body>` +
		strings.Repeat("<x>", n) + strings.Repeat("</x>", n) + `</message>`
}

// hostile connects to a scripted server with Config.MaxStanzaBytes set to
// maxBytes (0: the default) and returns once the client has sent its
// initial presence and first <r/>, the point from which the tests feed it
// what a hostile server could.
func hostile(t *testing.T, maxBytes int) (*fake, *collector, *session.Session) {
	t.Helper()
	f := &fake{}
	c := &collector{}
	f.t = t
	cfg := testConfig(f, c.on)
	cfg.MaxStanzaBytes = maxBytes
	s, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(s.Abort)
	delivered(t, s)
	f.expect("presence")
	f.expect("r")
	return f, c, s
}

// waitEvents returns once n events satisfy ok, or fails.
func waitEvents(t *testing.T, c *collector, want int, ok func(session.Event) bool) []session.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []session.Event
		for _, e := range c.all() {
			if ok(e) {
				got = append(got, e)
			}
		}
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got events %#v, want %d", c.all(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func received(e session.Event) bool {
	switch e.(type) {
	case session.Received, session.Skipped:
		return true
	}
	return false
}

// A stanza nested deeper than the decoder can take is skipped, reported,
// counted for XEP-0198 (so the server drops it), and the stream goes on:
// it used to end the connection, and the server redelivered it on every
// resumption.
func TestDeepStanzaSkipped(t *testing.T) {
	f, c, s := hostile(t, 0)
	f.send(nested("deep", 10_000))
	f.send(nested("edge", session.MaxStanzaDepth-1)) // exactly at the bound
	f.send(`<iq type='get' id='q1' from='example.org'><ping xmlns='urn:xmpp:ping'>` + strings.Repeat("<x>", 300) + strings.Repeat("</x>", 300) + `</ping></iq>`)
	f.send(`<message from='bob@example.org/x' type='chat' id='m1'><body>after</body></message>`)
	if e := f.expectSkippingR("iq"); e.attr("type") != "error" || e.attr("id") != "q1" {
		t.Fatalf("deep request answered with %s, want an error", e)
	}
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expectSkippingR("a").attr("h"); h != "4" {
		t.Fatalf("h = %s, want 4 (the skipped stanzas count)", h)
	}
	evs := waitEvents(t, c, 4, received)
	if sk, ok := evs[0].(session.Skipped); !ok || sk.Kind != "message" || sk.ID != "deep" || sk.From != "mallory@example.org/x" || sk.Reason != session.SkipTooDeep {
		t.Errorf("first event = %#v, want Skipped deep message", evs[0])
	}
	if r, ok := evs[1].(session.Received); !ok || r.Message.ID != "edge" {
		t.Errorf("second event = %#v, want the message at the depth bound", evs[1])
	}
	if sk, ok := evs[2].(session.Skipped); !ok || sk.Kind != "iq" || sk.ID != "q1" || sk.Reason != session.SkipTooDeep {
		t.Errorf("third event = %#v, want Skipped iq", evs[2])
	}
	if r, ok := evs[3].(session.Received); !ok || r.Message.Body != "after" {
		t.Errorf("fourth event = %#v, want the normal message", evs[3])
	}
	if err := s.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
	if got := s.State().InH; got != 4 {
		t.Errorf("InH = %d, want 4", got)
	}
}

// An over-size stanza is skipped, reported and counted; the cap is on bytes
// as received, so apostrophes escaped as &apos; (6 bytes each, as Prosody
// writes them) count six times, and a stanza under the cap is delivered.
func TestLargeStanzaSkipped(t *testing.T) {
	f, c, s := hostile(t, 64<<10)
	small := strings.Repeat("'", 10_000) // 60 KB as sent
	f.send(`<message from='bob@example.org/x' type='chat' id='small'><body>` + strings.Repeat("&apos;", 10_000) + `</body></message>`)
	f.send(`<message from='bob@example.org/x' type='chat' id='big'><body>` + strings.Repeat("&apos;", 20_000) + `</body><x><![CDATA[<y>]]></x></message>`)
	f.send(`<message from='bob@example.org/x' type='chat' id='cdata'><body><![CDATA[` + strings.Repeat("é", 40_000) + `]]></body></message>`)
	f.send(`<message from='bob@example.org/x' type='chat' id='m1'><body>after</body></message>`)
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expectSkippingR("a").attr("h"); h != "4" {
		t.Fatalf("h = %s, want 4", h)
	}
	evs := waitEvents(t, c, 4, received)
	if r, ok := evs[0].(session.Received); !ok || r.Message.Body != small {
		t.Errorf("first event = %T, want the message under the cap", evs[0])
	}
	for i, id := range []string{"big", "cdata"} {
		if sk, ok := evs[1+i].(session.Skipped); !ok || sk.ID != id || sk.Reason != session.SkipTooLarge {
			t.Errorf("event %d = %#v, want Skipped %s", 1+i, evs[1+i], id)
		}
	}
	if r, ok := evs[3].(session.Received); !ok || r.Message.Body != "after" {
		t.Errorf("last event = %#v, want the normal message", evs[3])
	}
	if err := s.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}

// A text node that does not end is dropped as it streams: the client's
// memory stays bounded, and the stream survives it.
func TestEndlessTextBounded(t *testing.T) {
	f, c, s := hostile(t, 64<<10)
	const total = 32 << 20
	chunk := []byte(strings.Repeat("x", 64<<10))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f.send(`<message from='bob@example.org/x' type='chat' id='endless'><body>`)
	for range total / len(chunk) {
		f.wmu.Lock()
		_, err := f.conn.Write(chunk)
		f.wmu.Unlock()
		if err != nil {
			t.Fatalf("the client stopped reading: %v (%v)", err, s.Err())
		}
	}
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes while %d bytes of text streamed in", grew, total)
	if grew > total/4 {
		t.Errorf("allocated %d bytes while %d bytes of text streamed in", grew, total)
	}
	f.send(`</body></message><message from='bob@example.org/x' type='chat' id='m1'><body>after</body></message><r xmlns='urn:xmpp:sm:3'/>`)
	if h := f.expectSkippingR("a").attr("h"); h != "2" {
		t.Fatalf("h = %s, want 2", h)
	}
	evs := waitEvents(t, c, 2, received)
	if sk, ok := evs[0].(session.Skipped); !ok || sk.ID != "endless" || sk.Reason != session.SkipTooLarge {
		t.Errorf("first event = %#v, want Skipped", evs[0])
	}
	if err := s.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}

// Comments, processing instructions and DTDs are restricted in XMPP (RFC
// 6120 §11.1): the stream ends with <restricted-xml/>.
func TestRestrictedXML(t *testing.T) {
	for name, x := range map[string]string{
		"comment between stanzas": `<!-- hi -->`,
		"comment in a stanza":     `<message id='c'><body>a<!-- hi -->b</body></message>`,
		"PI":                      `<message id='p'><?php x ?></message>`,
		"DTD":                     `<!DOCTYPE lol [<!ENTITY a "aaaa">]><message/>`,
	} {
		t.Run(name, func(t *testing.T) {
			f, c, s := hostile(t, 0)
			go f.send(`<message from='bob@example.org/x' type='chat' id='m0'><body>before</body></message>` + x)
			e := f.expectSkippingR("error")
			if _, ok := e.child("restricted-xml"); !ok {
				t.Fatalf("stream error = %s, want restricted-xml", e)
			}
			<-s.Done()
			var se *session.StreamError
			if !errors.As(s.Err(), &se) || se.Condition != "restricted-xml" || !se.Local {
				t.Fatalf("Err = %v, want a local restricted-xml", s.Err())
			}
			if evs := waitEvents(t, c, 1, received); len(evs) != 1 {
				t.Errorf("events = %#v, want only the message before", evs)
			}
		})
	}
}
