package scenario_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/scenario"
	"github.com/xmppbg/xmppbg/session"
)

// checkSVG fails the test unless b is a well-formed SVG document without
// scripts or external references.
func checkSVG(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
				if se.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", se.Name.Space)
				}
			}
			switch se.Name.Local {
			case "script", "image", "foreignObject", "style":
				t.Errorf("the SVG has a <%s> element", se.Name.Local)
			}
			for _, a := range se.Attr {
				if a.Name.Local == "href" || strings.Contains(a.Value, "http") && a.Name.Local != "xmlns" {
					t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
				}
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
}

func TestWriteSVGEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := (&scenario.Result{Name: "empty & <odd>.scn"}).WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b.Bytes())
	if !strings.Contains(b.String(), "empty &amp; &lt;odd&gt;.scn") {
		t.Error("the name is not escaped")
	}
}

func TestWriteSVGAndText(t *testing.T) {
	start := time.Now()
	m := &session.Message{ID: "m1", OriginID: "m1", From: "bob@localhost/x", To: "alice@localhost", Body: "bob #1 <&>"}
	at := func(d time.Duration) scenario.Entry { return scenario.Entry{At: d, Time: start.Add(d)} }
	e1 := at(0)
	e1.Who, e1.Name, e1.State, e1.Text = "alice", "state", "online", "state online"
	e2 := at(time.Second)
	e2.Who, e2.Name, e2.State, e2.Text = "alice", "state", "background", "state background"
	e3 := at(1500 * time.Millisecond)
	e3.Who, e3.Name, e3.Text, e3.Event = "bob", "sent", `sent "bob #1 <&>" to alice`, driver.Sent{Message: *m}
	e4 := at(2 * time.Second)
	e4.Who, e4.Name, e4.Line, e4.OK, e4.Text = "check", "expect", 7, false, "FAILED expect delivered: alice never got 1 message"
	res := &scenario.Result{
		Name: "x.scn", Start: start, Duration: 2 * time.Second,
		Entries:  []scenario.Entry{e1, e2, e3, e4},
		Failures: []scenario.Failure{{Line: 7, Statement: "expect delivered", Reason: "alice never got 1 message"}},
		Summary: scenario.Summary{
			BobToAlice:   scenario.Flow{From: "bob", To: "alice", Sent: 1, Lost: 1},
			AliceToBob:   scenario.Flow{From: "alice", To: "bob"},
			Repairs:      []scenario.Repair{{Cause: "resume", Start: time.Second, Dead: 2 * time.Millisecond, ByProbe: true, Outcome: "resumed", Login: 40 * time.Millisecond, Took: 45 * time.Millisecond, Done: true}},
			Resumed:      1,
			Expectations: 1, Failed: 1,
		},
	}
	var b bytes.Buffer
	if err := res.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b.Bytes())
	for _, want := range []string{"FAILED", "alice app", "alice connection", "bob connection", "background", "resumed 45ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}

	b.Reset()
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"Scenario x.scn\n",
		"  +1.000s  alice   state background\n",
		"  +2.000s  check   :7   FAILED expect delivered",
		"Summary of x.scn: FAILED (0 of 1 expectations met, 2.00s)",
		"bob   -> alice   1 sent,   0 delivered, 1 lost, 0 duplicated",
		"1. after /resume at +1.000s: dead detected 2ms later by the probe; stream resumed (login 40ms); online again after 45ms",
		"x.scn:7 expect delivered: alice never got 1 message",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	if res.Passed() {
		t.Error("Passed() with a failure")
	}
}
