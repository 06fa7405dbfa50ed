package main

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/golden"
	"github.com/xmppbg/xmppbg/internal/scenario"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// goldenNow is the fixed time of every rendered line.
var goldenNow = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// clock is a time in the local time zone printed as [15:04:05]: masked,
// as the zone of the machine running the tests is not fixed.
var clock = regexp.MustCompile(`\[\d\d:\d\d:\d\d\]`)

// goldenOutput returns an output whose clock is fixed.
func goldenOutput(jsonMode bool) (o *output, stdout, stderr *syncBuffer) {
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	o = newOutput(stdout, stderr, jsonMode)
	o.now = func() time.Time { return goldenNow }
	return o, stdout, stderr
}

// goldenMessages are a plain message and one delayed by the server, with
// HTML and a control character in the body.
func goldenMessages() (plain, delayed session.Message) {
	plain = session.Message{From: "bob@example.org/phone", To: "alice@example.org/xmppbg", Type: "chat", Body: "hi <b> & \x1b[2J", ID: "m1", OriginID: "o1"}
	delayed = plain
	delayed.ID, delayed.OriginID, delayed.Body = "m2", "o2", "while you were away"
	delayed.Delay = time.Date(2024, 5, 6, 6, 0, 0, 0, time.UTC)
	return plain, delayed
}

// renderChat renders the golden chat events with the JSON and the text
// interfaces of the chat command.
func renderChat(t *testing.T) (jsonOut, textOut []byte) {
	t.Helper()
	o, stdout, stderr := goldenOutput(true)
	ju := &jsonUI{o: o, jid: "alice@example.org", addr: "127.0.0.1:5222"}
	for _, e := range goldenChatEvents() {
		ju.event(e)
	}
	goldenReplies(ju)
	jsonOut = append([]byte(stdout.String()), "--- stderr\n"+stderr.String()...)

	var out, notes bytes.Buffer
	tu := &textUI{out: &out, notes: &notes, p: newPalette(false), jid: "alice@example.org", addr: "127.0.0.1:5222"}
	cu := &textUI{out: &out, notes: &notes, p: newPalette(true), jid: "alice@example.org", addr: "127.0.0.1:5222"}
	for _, e := range goldenChatEvents() {
		tu.event(e)
	}
	goldenReplies(tu)
	out.WriteString("--- colour\n")
	for _, e := range goldenChatEvents() {
		cu.event(e)
	}
	textOut = clock.ReplaceAll(append(out.Bytes(), "--- notes\n"+notes.String()...), []byte("[hh:mm:ss]"))
	return jsonOut, textOut
}

// goldenReplies shows what the chat says in reply to commands.
func goldenReplies(u chatUI) {
	u.status(driver.Status{App: suspend.Active, Client: reconnect.Online, Peer: "bob@example.org", JID: "alice@example.org/x", Queued: 1, Unacked: 2, Resumable: true, SM: true})
	u.status(driver.Status{App: suspend.Suspended, Client: reconnect.Offline})
	u.reply(driver.Command{Op: driver.OpTo, To: "carol@example.org"}, "talking to carol@example.org")
	u.reply(driver.Command{Op: driver.OpHelp}, "Commands: …")
	u.reply(driver.Command{Op: driver.OpBg}, "")
	u.commandError("/bg x", errors.New("usage: /bg [DURATION]"))
	u.warn("coming back to the foreground: not suspended")
	u.quit(quitEOF)
	u.quit(quitSignal)
}

// TestGoldenChat pins the chat command's JSON lines and human text for a
// representative set of events.
func TestGoldenChat(t *testing.T) {
	t.Parallel()
	jsonOut, textOut := renderChat(t)
	golden.Check(t, "chat.jsonl", jsonOut)
	golden.Check(t, "chat.txt", textOut)
}

// TestGoldenListen pins the messages of listen (and of chat, which prints
// them the same way).
func TestGoldenListen(t *testing.T) {
	t.Parallel()
	plain, delayed := goldenMessages()
	o, stdout, _ := goldenOutput(true)
	printMessage(o, plain)
	printMessage(o, delayed)
	golden.Check(t, "listen.jsonl", []byte(stdout.String()))

	h, hout, _ := goldenOutput(false)
	printMessage(h, plain)
	printMessage(h, delayed)
	golden.Check(t, "listen.txt", clock.ReplaceAll([]byte(hout.String()), []byte("[hh:mm:ss]")))
}

// goldenResult is a scenario result with one entry of each kind.
func goldenResult() *scenario.Result {
	plain, delayed := goldenMessages()
	res := &scenario.Result{Name: "golden", Start: goldenNow, Duration: 4321 * time.Millisecond}
	res.Entries = goldenEntries(plain, delayed)
	res.Failures = []scenario.Failure{{Line: 9, Statement: "expect delivered", Reason: "bob never got 1 message: alice #3"}}
	res.Summary = scenario.Summary{
		AliceToBob:        scenario.Flow{From: "alice", To: "bob", Sent: 3, Delivered: 2, Lost: 1},
		BobToAlice:        scenario.Flow{From: "bob", To: "alice", Sent: 2, Delivered: 2, Duplicated: 1, Unexpected: 1},
		DuplicatesDropped: 1,
		Repairs: []scenario.Repair{
			{Cause: "resume", Start: 1500 * time.Millisecond, Dead: 2 * time.Second, ByProbe: true, Outcome: "resumed", Login: 87 * time.Millisecond, Took: 2100 * time.Millisecond, Done: true},
			{Cause: "dead", Start: 3 * time.Second, Outcome: "fresh", Took: 400 * time.Millisecond, Done: true},
			{Cause: "resume", Start: 4 * time.Second},
		},
		Resumed: 1, Fresh: 1, Expectations: 2, Failed: 1,
	}
	return res
}

// TestGoldenDemo pins the demo's timeline and summary, as JSON lines and as
// text.
func TestGoldenDemo(t *testing.T) {
	t.Parallel()
	res := goldenResult()
	for _, mode := range []struct {
		json bool
		file string
	}{{true, "demo.jsonl"}, {false, "demo.txt"}} {
		o, stdout, stderr := goldenOutput(mode.json)
		for _, e := range res.Entries {
			reportEntry(o, e)
		}
		reportSummary(o, res)
		golden.Check(t, mode.file, []byte(stdout.String()+"--- stderr\n"+stderr.String()))
	}
}

var errGolden = errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer")
