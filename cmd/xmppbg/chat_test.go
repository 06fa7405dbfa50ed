package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

func TestChatFlags(t *testing.T) {
	t.Parallel()
	var got *chatOptions
	capture := func(g *globalOptions) *cobra.Command {
		return newCmdChat(g, func(_ context.Context, o *chatOptions) error { got = o; return nil })
	}
	if err := parse(t, nil, capture, "chat", "--jid", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if got.To != "" || got.Policy != suspend.PolicyDetach || got.BgWindow != driver.DefaultBgWindow ||
		got.ProbeTimeout != reconnect.DefaultProbeTimeout || got.IdleProbe != reconnect.DefaultIdleProbe ||
		got.StateFile != "" || got.QuitTimeout != defaultQuitTimeout {
		t.Errorf("defaults = %+v", got)
	}

	got = nil
	err := parse(t, nil, capture, "chat", "--jid", "alice@example.org", "--json", "--to", "bob@example.org",
		"--bg-policy", "HOLD", "--bg-window", "5s", "--probe-timeout", "750ms", "--idle-probe", "0",
		"--state-file", "sm.json", "--quit-timeout", "0s")
	if err != nil {
		t.Fatal(err)
	}
	if got.To != "bob@example.org" || got.Policy != suspend.PolicyHold || got.BgWindow != 5*time.Second ||
		got.ProbeTimeout != 750*time.Millisecond || got.IdleProbe != 0 || got.StateFile != "sm.json" ||
		got.QuitTimeout != 0 || !got.JSON {
		t.Errorf("options = %+v", got)
	}
}

func TestChatUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{envPassword: "pw"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--bg-policy", "sleep"}, `invalid --bg-policy "sleep": want hold, detach or close`},
		{[]string{"--bg-window", "0s"}, "--bg-window must be positive"},
		{[]string{"--bg-window", "soon"}, `invalid argument "soon" for "--bg-window"`},
		{[]string{"--probe-timeout", "-1s"}, "--probe-timeout must be positive"},
		{[]string{"--idle-probe", "-5m"}, "--idle-probe must not be negative"},
		{[]string{"--quit-timeout", "-1s"}, "--quit-timeout must not be negative"},
		{[]string{"--to", "bob smith@example.org"}, `invalid --to "bob smith@example.org"`},
		{[]string{"--to", "/quit"}, `invalid --to "/quit"`},
		{[]string{"--state-file", dir}, "is a directory"},
		{[]string{"bob@example.org"}, "unknown command"},
	}
	for _, tt := range tests {
		args := append([]string{"chat", "--jid", "alice@example.org", "--addr", "127.0.0.1:1"}, tt.args...)
		r := runXmppbg(t.Context(), env, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", tt.args, r.stdout)
		}
	}

	// JSON mode: the error is an event with the exit code.
	r := runXmppbg(t.Context(), env, "chat", "--json", "--jid", "alice@example.org", "--bg-policy", "nap")
	events := jsonLines(t, r.stdout)
	if r.code != exitUsage || len(events) != 1 || events[0]["event"] != "error" || events[0]["code"] != float64(exitUsage) {
		t.Errorf("--json: exit %d, stdout %q", r.code, r.stdout)
	}

	// No --jid, no password: usage errors before anything is dialed.
	if r := runXmppbg(t.Context(), env, "chat"); r.code != exitUsage || !strings.Contains(r.stderr, "--jid is required") {
		t.Errorf("no --jid: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runXmppbg(t.Context(), nil, "chat", "--jid", "alice@example.org"); r.code != exitUsage || !strings.Contains(r.stderr, "no password") {
		t.Errorf("no password: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestChatNeverOnline(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: the login keeps failing; leaving says so.
	inv := &invocation{
		args: []string{"chat", "--json", "--jid", "alice@localhost", "--addr", "127.0.0.1:1", "--to", "bob@localhost", "--quit-timeout", "300ms"},
		env:  map[string]string{envPassword: "pw"}, stdin: strings.NewReader("hello\n"),
	}
	r := inv.run(t.Context())
	if r.code != exitConn {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, exitConn, r.stderr)
	}
	events := jsonLines(t, r.stdout)
	if sent := eventsNamed(events, "sent"); len(sent) != 1 || sent[0]["queued"] != true {
		t.Errorf("sent = %v", sent)
	}
	last := events[len(events)-1]
	if last["event"] != "error" || last["code"] != float64(exitConn) || !strings.Contains(last["error"].(string), "1 message(s) never sent") {
		t.Errorf("last event = %v", last)
	}
	if prev := events[len(events)-2]; prev["event"] != "state" || prev["state"] != "offline" {
		t.Errorf("before the error: %v", prev)
	}
}

func TestChatLineReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxChatLine+10)
	lr := newLineReader(strings.NewReader("one\r\n\n" + long + "\nafter\nlast"))
	var got []string
	for {
		line, err := lr.ReadLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errLineTooLong) {
			line = "<too long>"
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, line)
	}
	want := []string{"one", "", "<too long>", "after", "last"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

// chatProc is a "chat --json" running in-process, fed through a pipe.
type chatProc struct {
	t      *testing.T
	inv    *invocation
	stdin  *io.PipeWriter
	done   chan result
	cursor int // index of the next event wait looks at
}

func startChat(t *testing.T, ctx context.Context, env map[string]string, args ...string) *chatProc {
	t.Helper()
	pr, pw := io.Pipe()
	c := &chatProc{
		t:     t,
		inv:   &invocation{args: append([]string{"chat", "--json"}, args...), env: env, stdin: pr, stdout: new(syncBuffer), stderr: new(syncBuffer)},
		stdin: pw,
		done:  make(chan result, 1),
	}
	go func() {
		r := c.inv.run(ctx)
		_ = pr.Close()
		c.done <- r
	}()
	t.Cleanup(func() { _ = pw.Close() })
	return c
}

// send writes one line of input; it returns once the chat has read it.
func (c *chatProc) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatalf("writing %q: %v; stdout %s; stderr %s", line, err, c.inv.stdout, c.inv.stderr)
	}
}

// events returns the complete JSON lines written so far.
func (c *chatProc) events() []map[string]any {
	out := c.inv.stdout.String()
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		out = ""
	}
	return jsonLines(c.t, out)
}

// wait returns the first event from the cursor on that matches, and moves
// the cursor past it.
func (c *chatProc) wait(desc string, match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	return c.waitFrom(c.cursor, desc, match)
}

// waitFrom returns the first event from index from on that matches, and
// moves the cursor past it.
func (c *chatProc) waitFrom(from int, desc string, match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		events := c.events()
		for i := from; i < len(events); i++ {
			if match(events[i]) {
				c.cursor = i + 1
				return events[i]
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s after 20s; stdout:\n%s\nstderr:\n%s", desc, c.inv.stdout, c.inv.stderr)
		}
		select {
		case r := <-c.done:
			c.done <- r
			if events := c.events(); len(events) > from && slices.ContainsFunc(events[from:], match) {
				continue
			}
			c.t.Fatalf("chat ended (exit %d) before %s; stdout:\n%s\nstderr:\n%s", r.code, desc, r.stdout, r.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (c *chatProc) waitState(state string) map[string]any {
	c.t.Helper()
	return c.wait("state "+state, func(e map[string]any) bool { return e["event"] == "state" && e["state"] == state })
}

func (c *chatProc) waitEvent(name string) map[string]any {
	c.t.Helper()
	return c.wait(name+" event", func(e map[string]any) bool { return e["event"] == name })
}

// waitMessage waits for a message event, wherever it is: messages the
// server kept for a resumed stream come before the resumed event.
func (c *chatProc) waitMessage(body string) map[string]any {
	c.t.Helper()
	cursor := c.cursor
	defer func() { c.cursor = cursor }()
	return c.waitFrom(0, "message "+body, func(e map[string]any) bool { return e["event"] == "message" && e["body"] == body })
}

// quit closes stdin (end of input means /quit) and returns the result.
func (c *chatProc) quit() result {
	c.t.Helper()
	_ = c.stdin.Close()
	select {
	case r := <-c.done:
		return r
	case <-time.After(30 * time.Second):
		c.t.Fatalf("chat did not end after EOF; stdout:\n%s\nstderr:\n%s", c.inv.stdout, c.inv.stderr)
	}
	return result{}
}

// xmppPeer is the other side of the chat: a plain session.
type xmppPeer struct {
	s   *session.Session
	mu  sync.Mutex
	got []session.Message
}

func chatPeer(t *testing.T, srv *prosody.Server, user, pw string) *xmppPeer {
	t.Helper()
	tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	p := &xmppPeer{}
	cfg := session.Config{
		JID: user + "@" + srv.Domain(), Password: pw, Addr: srv.Addr(), TLS: tlsCfg,
		Logger: slog.New(slog.DiscardHandler),
		OnEvent: func(ev session.Event) {
			if r, ok := ev.(session.Received); ok {
				p.mu.Lock()
				p.got = append(p.got, r.Message)
				p.mu.Unlock()
			}
		},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	p.s, err = session.Connect(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.s.Close(ctx)
	})
	return p
}

func (p *xmppPeer) send(t *testing.T, to, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := p.s.SendMessage(ctx, session.Message{To: to, Type: "chat", Body: body})
	if err != nil {
		t.Fatalf("peer sending %q: %v", body, err)
	}
	if err := p.s.WaitAcked(ctx, m.ID); err != nil {
		t.Fatalf("peer: %q not acknowledged: %v", body, err)
	}
}

func (p *xmppPeer) count(body string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.got {
		if m.Body == body {
			n++
		}
	}
	return n
}

func (p *xmppPeer) waitBody(t *testing.T, body string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for p.count(body) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the peer did not receive %q", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkChatOutput checks what every chat run must satisfy: only JSON on
// stdout (checked by jsonLines), every sent id acknowledged, no message
// shown twice, the quit event, and a last state offline.
func checkChatOutput(t *testing.T, r result, reason string) []map[string]any {
	t.Helper()
	events := jsonLines(t, r.stdout)
	acked := map[string]bool{}
	for _, e := range eventsNamed(events, "acked") {
		for _, id := range e["ids"].([]any) {
			acked[id.(string)] = true
		}
	}
	for _, e := range eventsNamed(events, "sent") {
		if id, _ := e["id"].(string); id == "" || !acked[id] {
			t.Errorf("sent %v never acknowledged", e)
		}
	}
	seen := map[string]bool{}
	for _, e := range eventsNamed(events, "message") {
		key := fmt.Sprint(e["from"], "\x00", e["body"])
		if seen[key] {
			t.Errorf("message shown twice: %v", e)
		}
		seen[key] = true
	}
	if q := eventsNamed(events, "quit"); len(q) != 1 || q[0]["reason"] != reason {
		t.Errorf("quit events %v, want one with reason %q", q, reason)
	}
	states := eventsNamed(events, "state")
	if len(states) == 0 || states[len(states)-1]["state"] != "offline" || events[len(events)-1]["event"] != "state" {
		t.Errorf("the last event is not state offline: %s", r.stdout)
	}
	// One offline state after quit (policy close may log out before).
	quitAt := slices.IndexFunc(events, func(e map[string]any) bool { return e["event"] == "quit" })
	if quitAt >= 0 {
		after := slices.DeleteFunc(slices.Clone(events[quitAt:]), func(e map[string]any) bool { return e["event"] != "state" || e["state"] != "offline" })
		if len(after) != 1 {
			t.Errorf("%d offline states after quit, want 1: %s", len(after), r.stdout)
		}
	}
	return events
}

// chatStates returns the states in order.
func chatStates(events []map[string]any) []string {
	var s []string
	for _, e := range eventsNamed(events, "state") {
		s = append(s, e["state"].(string))
	}
	return s
}

// chatSubsequence reports whether want appears in got in order.
func chatSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestChatProsody(t *testing.T) {
	const pw = "chat test password"
	accounts := map[string]string{}
	for _, u := range []string{"rst", "blackhole", "reclaim", "fresh", "bad", "state", "tmux", "sig", "unacked"} {
		accounts["a-"+u] = pw
		accounts["b-"+u] = pw
	}
	srv := integration.StartProsody(t, prosody.Options{Accounts: accounts})
	env := map[string]string{envPassword: pw}
	jid := func(user string) string { return user + "@" + srv.Domain() }
	common := func(user string, args ...string) []string {
		return append([]string{"--jid", jid(user), "--addr", srv.Addr(), "--ca-file", srv.CAFile()}, args...)
	}

	for _, fault := range []string{"rst", "blackhole", "reclaim"} {
		t.Run("Tear-"+fault, func(t *testing.T) {
			t.Parallel()
			alice, bobJID := jid("a-"+fault), jid("b-"+fault)
			bob := chatPeer(t, srv, "b-"+fault, pw)
			c := startChat(t, t.Context(), env, common("a-"+fault, "--to", bobJID, "--bg-policy", "hold", "--probe-timeout", "500ms")...)
			c.waitState("online")

			c.send("hello bob, " + fault)
			sent := c.waitEvent("sent")
			if sent["to"] != bobJID || sent["queued"] != nil {
				t.Errorf("sent = %v", sent)
			}
			bob.waitBody(t, "hello bob, "+fault)
			bob.send(t, alice, "bob 1")
			c.waitMessage("bob 1")

			c.send("/bg 300ms")
			c.waitState("background")
			c.waitState("suspended")
			bob.send(t, alice, "bob 2, while alice is suspended")
			c.send("/tear " + fault)
			c.wait("lifecycle socket", func(e map[string]any) bool {
				return e["event"] == "lifecycle" && strings.HasPrefix(e["text"].(string), "socket ")
			})
			// Typed while suspended: the app holds its (frozen) socket, the
			// message goes out once it is back.
			c.send("typed while suspended, " + fault)
			c.send("/resume")
			c.waitState("resuming")
			if fault == "blackhole" {
				dead := c.waitEvent("dead")
				if dead["probe"] != true {
					t.Errorf("dead = %v, want found by the probe", dead)
				}
			}
			resumed := c.waitEvent("resumed")
			if ms, ok := resumed["ms"].(float64); !ok || ms < 0 {
				t.Errorf("resumed = %v", resumed)
			}
			online := c.waitState("online")
			if online["fresh"] != nil {
				t.Errorf("online after a resumption = %v", online)
			}
			c.waitMessage("bob 2, while alice is suspended")

			c.send("/msg " + bobJID + " after the " + fault)
			bob.waitBody(t, "after the "+fault)
			bob.waitBody(t, "typed while suspended, "+fault)
			bob.send(t, alice, "bob 3")
			c.waitMessage("bob 3")
			c.send("/status")
			st := c.waitEvent("status")
			if st["connection"] != "online" || st["app"] != "active" || st["peer"] != bobJID || st["sm"] != true {
				t.Errorf("status = %v", st)
			}

			r := c.quit()
			if r.code != exitOK {
				t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
			}
			events := checkChatOutput(t, r, quitEOF)
			if seq := chatStates(events); !chatSubsequence(seq, []string{"connecting", "online", "background", "suspended", "resuming", "online", "offline"}) {
				t.Errorf("states %v", seq)
			}
			for _, body := range []string{"bob 1", "bob 2, while alice is suspended", "bob 3"} {
				if n := len(slices.DeleteFunc(eventsNamed(events, "message"), func(e map[string]any) bool { return e["body"] != body })); n != 1 {
					t.Errorf("%q shown %d times", body, n)
				}
			}
			for _, body := range []string{"hello bob, " + fault, "typed while suspended, " + fault, "after the " + fault} {
				if n := bob.count(body); n != 1 {
					t.Errorf("bob got %q %d times", body, n)
				}
			}
			if errs := eventsNamed(events, "error"); len(errs) != 0 {
				t.Errorf("errors: %v", errs)
			}
			if strings.Contains(r.stdout+r.stderr, pw) {
				t.Error("the password was printed")
			}
		})
	}

	t.Run("Fresh", func(t *testing.T) {
		// Policy close ends the stream: /resume opens a fresh session, and
		// what bob sent meanwhile comes from offline storage.
		t.Parallel()
		alice, bobJID := jid("a-fresh"), jid("b-fresh")
		bob := chatPeer(t, srv, "b-fresh", pw)
		c := startChat(t, t.Context(), env, common("a-fresh", "--to", bobJID, "--bg-policy", "close")...)
		c.waitState("online")
		c.send("/suspend")
		c.waitState("suspended")
		bob.send(t, alice, "stored while away")
		c.send("while suspended, queued")
		if sent := c.waitEvent("sent"); sent["queued"] != true {
			t.Errorf("sent while suspended = %v, want queued", sent)
		}
		c.send("/resume")
		online := c.waitState("online")
		if online["fresh"] != true {
			t.Errorf("online after policy close = %v, want fresh", online)
		}
		if m := c.waitMessage("stored while away"); m["delayed"] != true {
			t.Errorf("offline message = %v, want delayed", m)
		}
		bob.waitBody(t, "while suspended, queued")
		c.send("/quit")
		r := <-c.done
		if r.code != exitOK {
			t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
		}
		events := checkChatOutput(t, r, quitCommand)
		if len(eventsNamed(events, "resumed")) != 0 {
			t.Errorf("resumed after policy close: %s", r.stdout)
		}
	})

	t.Run("BadCommands", func(t *testing.T) {
		t.Parallel()
		bobJID := jid("b-bad")
		bob := chatPeer(t, srv, "b-bad", pw)
		c := startChat(t, t.Context(), env, common("a-bad")...)
		c.waitState("online")
		for _, tt := range []struct{ line, want string }{
			{"/frobnicate", "unknown command /frobnicate"},
			{"/bg later", "/bg [DURATION]"},
			{"/tear gently", `usage: /tear rst|blackhole|reclaim (no fault "gently")`},
			{"no peer yet", "no current peer"},
		} {
			c.send(tt.line)
			e := c.waitEvent("error")
			if !strings.Contains(e["error"].(string), tt.want) || e["input"] != tt.line || e["code"] != nil {
				t.Errorf("%q: error event %v, want %q", tt.line, e, tt.want)
			}
		}
		c.send("/to " + bobJID)
		if e := c.waitEvent("peer"); e["peer"] != bobJID {
			t.Errorf("peer event %v", e)
		}
		c.send("//still going")
		bob.waitBody(t, "/still going")
		c.send("/help")
		if e := c.waitEvent("help"); !strings.Contains(e["text"].(string), "/tear rst|blackhole|reclaim") {
			t.Errorf("help = %v", e)
		}
		r := c.quit()
		if r.code != exitOK {
			t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
		}
		checkChatOutput(t, r, quitEOF)
		if !strings.Contains(r.stderr, "xmppbg: error: usage: unknown command /frobnicate") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})

	t.Run("StateFile", func(t *testing.T) {
		// With --state-file the chat detaches when it ends: the next one
		// resumes the stream, and gets what was sent in between.
		t.Parallel()
		alice, bobJID := jid("a-state"), jid("b-state")
		bob := chatPeer(t, srv, "b-state", pw)
		file := filepath.Join(t.TempDir(), "alice.sm")
		args := common("a-state", "--to", bobJID, "--state-file", file)

		c := startChat(t, t.Context(), env, args...)
		c.waitState("online")
		c.send("first run")
		bob.waitBody(t, "first run")
		r := c.quit()
		if r.code != exitOK {
			t.Fatalf("first run: exit %d; stderr %s", r.code, r.stderr)
		}
		checkChatOutput(t, r, quitEOF)
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("state file: %v, %v", fi, err)
		}

		bob.send(t, alice, "while no chat runs")
		c = startChat(t, t.Context(), env, args...)
		c.waitEvent("resumed")
		c.waitMessage("while no chat runs")
		c.send("second run")
		bob.waitBody(t, "second run")
		r = c.quit()
		if r.code != exitOK {
			t.Fatalf("second run: exit %d; stderr %s", r.code, r.stderr)
		}
		events := checkChatOutput(t, r, quitEOF)
		for _, e := range eventsNamed(events, "state") {
			if e["fresh"] != nil {
				t.Errorf("fresh session in the second run: %s", r.stdout)
			}
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		t.Parallel()
		const wrong = "not the chat password"
		r := runXmppbg(t.Context(), map[string]string{envPassword: wrong}, append([]string{"chat", "--json"}, common("nobody")...)...)
		if r.code != exitAuth {
			t.Fatalf("exit %d, want %d; stderr %s", r.code, exitAuth, r.stderr)
		}
		events := jsonLines(t, r.stdout)
		if last := events[len(events)-1]; last["event"] != "error" || last["code"] != float64(exitAuth) ||
			!strings.Contains(last["error"].(string), "check the JID and the password") {
			t.Errorf("last event = %v", last)
		}
		if strings.Contains(r.stdout+r.stderr, wrong) {
			t.Error("the password was printed")
		}
	})

	t.Run("Signal", func(t *testing.T) {
		// SIGINT (the context) while suspended with a message queued:
		// the chat comes back, delivers it, logs out, exits 0.
		t.Parallel()
		bob := chatPeer(t, srv, "b-sig", pw)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c := startChat(t, ctx, env, common("a-sig", "--to", jid("b-sig"))...)
		c.waitState("online")
		c.send("/suspend")
		c.waitState("suspended")
		c.send("queued, then interrupted")
		c.waitEvent("sent")
		cancel()
		r := <-c.done
		if r.code != exitOK {
			t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
		}
		checkChatOutput(t, r, quitSignal)
		bob.waitBody(t, "queued, then interrupted")
	})

	t.Run("Unacknowledged", func(t *testing.T) {
		// --quit-timeout 0 with a message still queued: exit 6, said so
		// as the last event.
		t.Parallel()
		file := filepath.Join(t.TempDir(), "sm")
		c := startChat(t, t.Context(), env, common("a-unacked", "--to", jid("b-unacked"), "--quit-timeout", "0", "--state-file", file)...)
		c.waitState("online")
		c.send("/suspend")
		c.waitState("suspended")
		c.send("never sent")
		c.waitEvent("sent")
		r := c.quit()
		if r.code != exitTimeout {
			t.Fatalf("exit %d, want %d; stderr %s", r.code, exitTimeout, r.stderr)
		}
		events := jsonLines(t, r.stdout)
		last, prev := events[len(events)-1], events[len(events)-2]
		if last["event"] != "error" || last["code"] != float64(exitTimeout) || !strings.Contains(last["error"].(string), "1 message(s) never sent") {
			t.Errorf("last event %v", last)
		}
		if prev["event"] != "state" || prev["state"] != "offline" {
			t.Errorf("before the error: %v", prev)
		}
	})

	t.Run("Interactive", func(t *testing.T) {
		t.Parallel()
		testChatInteractive(t, srv, pw)
	})
}

// testChatInteractive runs the real binary on a terminal (tmux) and checks
// that a message arriving while a line is being typed leaves that line
// intact.
func testChatInteractive(t *testing.T, srv *prosody.Server, pw string) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is required for the interactive chat test under CI=true: install tmux (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed: skipping the interactive chat test")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	alice, bobJID := "a-tmux@"+srv.Domain(), "b-tmux@"+srv.Domain()
	bob := chatPeer(t, srv, "b-tmux", pw)

	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TERM=xterm-256color", "LANG=C.UTF-8", envPassword + "=" + pw}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() })
	chat := fmt.Sprintf("%s chat --jid %s --addr %s --ca-file %s --to %s; echo EXIT=$?; sleep 60",
		chatShellQuote(bin), alice, srv.Addr(), chatShellQuote(srv.CAFile()), bobJID)
	tm("new-session", "-d", "-s", "chat", "-x", "120", "-y", "30", chat)
	tm("new-session", "-d", "-s", "nocolor", "-x", "120", "-y", "30", "NO_COLOR=1 "+chat)

	screen := func(session string, colours bool) string {
		args := []string{"capture-pane", "-p", "-t", session}
		if colours {
			args = append(args, "-e")
		}
		return tm(args...)
	}
	waitScreen := func(session, desc string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := screen(session, false)
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %s after 20s; screen:\n%s", session, desc, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
		return strings.TrimRight(lines[len(lines)-1], " ")
	}
	prompt := "[online] " + bobJID + "> "
	for _, s := range []string{"chat", "nocolor"} {
		waitScreen(s, "online prompt", func(s string) bool { return lastLine(s) == strings.TrimSpace(prompt) })
	}

	const partial = "this line is half typ"
	tm("send-keys", "-t", "chat", "-l", partial)
	waitScreen("chat", "the partial line", func(s string) bool { return lastLine(s) == prompt+partial })
	bob.send(t, alice, "a message from bob")
	s := waitScreen("chat", "bob's message", func(s string) bool { return strings.Contains(s, "a message from bob") })
	if got := lastLine(s); got != prompt+partial {
		t.Errorf("the line being typed was garbled: last line %q, want %q; screen:\n%s", got, prompt+partial, s)
	}
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	if n := len(lines); n < 2 || !strings.Contains(lines[n-2], bobJID) || !strings.Contains(lines[n-2], ": a message from bob") {
		t.Errorf("the message is not just above the prompt; screen:\n%s", s)
	}
	if !strings.Contains(screen("chat", true), "\x1b[") {
		t.Error("no colours on the terminal")
	}

	tm("send-keys", "-t", "chat", "-l", "ed, now complete")
	tm("send-keys", "-t", "chat", "Enter")
	bob.waitBody(t, partial+"ed, now complete")
	waitScreen("chat", "the acknowledgement", func(s string) bool { return strings.Contains(s, "✓ acknowledged") })

	// History: Up brings the line back.
	tm("send-keys", "-t", "chat", "Up")
	waitScreen("chat", "the line from the history", func(s string) bool { return lastLine(s) == prompt+partial+"ed, now complete" })
	tm("send-keys", "-t", "chat", "C-u")
	waitScreen("chat", "an empty line", func(s string) bool { return lastLine(s) == strings.TrimSpace(prompt) })

	tm("send-keys", "-t", "chat", "-l", "/quit")
	tm("send-keys", "-t", "chat", "Enter")
	s = waitScreen("chat", "the exit status", func(s string) bool { return strings.Contains(s, "EXIT=") })
	if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "-- offline") {
		t.Errorf("after /quit:\n%s", s)
	}

	// NO_COLOR: no colour, and Ctrl-D leaves like /quit.
	if c := screen("nocolor", true); strings.Contains(c, "\x1b[3") || strings.Contains(c, "\x1b[2m") {
		t.Errorf("colours despite NO_COLOR:\n%q", c)
	}
	tm("send-keys", "-t", "nocolor", "C-d")
	s = waitScreen("nocolor", "the exit status", func(s string) bool { return strings.Contains(s, "EXIT=") })
	if !strings.Contains(s, "EXIT=0") {
		t.Errorf("after Ctrl-D:\n%s", s)
	}
	if c := screen("nocolor", true); strings.Contains(c, "\x1b[3") {
		t.Errorf("colours despite NO_COLOR:\n%q", c)
	}
}

// chatShellQuote quotes s for sh.
func chatShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
