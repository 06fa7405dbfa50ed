//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/proc"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// The real app, frozen by the OS and thawed, with nobody telling it: "xmppbg
// chat --json" with default flags is stopped with SIGSTOP, its established
// connection is reset, black-holed or left alone outside it while bob
// writes and alice's typed lines wait in her input, and it is continued
// with SIGCONT. Each cycle checks that the client reported that it noticed,
// that every message both ways arrived exactly once, and that it was all
// done within a generous bound after SIGCONT (a correctness bound: the idle
// probe, 5 minutes, is what a client that notices nothing waits; the speed
// is measured in internal/bench). suspension_proxy_test.go breaks the path
// with an external proxy, suspension_kernel_test.go in the kernel.

// stoppedFor is how long the process stays stopped.
const stoppedFor = 1500 * time.Millisecond

// repairBound bounds the time from SIGCONT until every message is delivered
// and acknowledged: the acceptance figure is the probe timeout plus 3 s;
// the bound leaves room for a loaded machine.
const repairBound = reconnect.DefaultProbeTimeout + 12*time.Second

// wokeBound bounds the time from SIGCONT to the chat's "woke" event: the
// signal is handled at once, but on its own goroutine, so the event may
// come after the repair it started, or after the acks of a connection that
// needed none.
const wokeBound = 5 * time.Second

// pathFault breaks alice's live connection while her process is stopped.
type pathFault struct {
	name string
	// apply breaks the flows of the process pid; nil leaves them alone.
	apply func(t *testing.T, pid int)
}

// suspensionCycle runs one stop-fault-continue cycle of a real chat process
// (the binary bin) logged in as alice through addr (the server's, or a
// proxy's in front of it), with bob logged in directly, in-process.
func suspensionCycle(t *testing.T, bin string, srv integration.Server, addr string, fault pathFault) {
	t.Helper()
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	bobSession, bobMu, bobGot := peer(t, srv, bob, integration.Password)
	env := append(os.Environ(), "XMPPBG_PASSWORD="+integration.Password)
	chat := startChatProcess(t, bin, env, "--config", os.DevNull, "--jid", alice, "--addr", addr, "--ca-file", srv.CAFile(), "--to", bob)
	pid := chat.cmd.Process.Pid

	chat.waitFor("online", func(e map[string]any) bool { return e["event"] == "state" && e["state"] == "online" })
	bobSend := func(body string) {
		t.Helper()
		if _, err := bobSession.SendMessage(context.Background(), session.Message{To: alice, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	// a1 acknowledged means the server handled alice's initial presence,
	// which came before it: only then is a message to her bare JID routed
	// to this session (see integration.Caps.OfflineRace).
	chat.send("a1")
	chat.waitFor("a1 acked", func(e map[string]any) bool { return e["event"] == "acked" })
	bobSend("b1")
	chat.waitFor("b1", func(e map[string]any) bool { return e["event"] == "message" && e["body"] == "b1" })

	// The OS freezes the app; the path dies (or not) outside it; bob
	// writes and the user types.
	if err := proc.Stop(pid); err != nil {
		t.Fatal(err)
	}
	if fault.apply != nil {
		fault.apply(t, pid)
	}
	bobSend("b2")
	bobSend("b3")
	chat.send("a2")
	chat.send("a3")
	time.Sleep(stoppedFor) // the suspension itself, not an assertion
	thawed := time.Now()
	if err := chat.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	// Back by itself: everything delivered and acknowledged, in bound.
	delivered := func() bool {
		bobMu.Lock()
		defer bobMu.Unlock()
		got := chat.received()
		return bobGot["a2"] == 1 && bobGot["a3"] == 1 && slices.Contains(got, "b2") && slices.Contains(got, "b3") &&
			chat.ackedAll("a2", "a3")
	}
	if !chat.waitUntil(repairBound, delivered) {
		bobMu.Lock()
		t.Fatalf("%s: not all delivered and acknowledged %v after SIGCONT: bob has %v; alice's events %v; %s",
			fault.name, repairBound, bobGot, chat.events(), offline(srv, "alice"))
	}
	took := time.Since(thawed)
	t.Logf("%s: every message delivered and acknowledged %v after SIGCONT", fault.name, took.Round(time.Millisecond))
	// The woke event comes from the signal, not from the traffic: it may
	// follow the acks of a live connection by a few milliseconds.
	if !chat.waitUntil(wokeBound, func() bool { return chat.firstSince(thawed, noticedSuspension) != nil }) {
		t.Errorf("%s: no event says the client noticed the suspension; events since SIGCONT: %v", fault.name, chat.eventsSince(thawed))
	}

	chat.endAndCheckOnce(t, fault.name, bobMu, bobGot, []string{"b1", "b2", "b3"}, []string{"a1", "a2", "a3"})
}

// endAndCheckOnce ends the chat (its input closed: it must exit cleanly),
// leaves a duplicate time to arrive, and checks that alice, the chat, got
// each of fromBob exactly once and nothing else, and bob (bobGot, under
// bobMu) each of fromAlice.
func (p *chatProcess) endAndCheckOnce(t *testing.T, name string, bobMu *sync.Mutex, bobGot map[string]int, fromBob, fromAlice []string) {
	t.Helper()
	_ = p.stdin.Close()
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("chat: %v; events %v", err, p.events())
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	once := func(bodies []string) map[string]int {
		m := map[string]int{}
		for _, b := range bodies {
			m[b] = 1
		}
		return m
	}
	got := map[string]int{}
	for _, b := range p.received() {
		got[b]++
	}
	bobMu.Lock()
	defer bobMu.Unlock()
	if want := once(fromBob); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: alice got %v, want each of bob's messages once; alice's events %v", name, got, p.events())
	}
	if want := once(fromAlice); fmt.Sprint(bobGot) != fmt.Sprint(want) {
		t.Errorf("%s: bob got %v, want each of alice's messages once", name, bobGot)
	}
}

// noticedSuspension is the event by which the chat reports that it noticed
// a suspension by itself (issue 12, item 1): "woke", here caused by the
// SIGCONT.
func noticedSuspension(e map[string]any) bool {
	return e["event"] == "woke" && e["cause"] == "sigcont"
}

// ackedAll reports whether the messages with these bodies were sent and
// the server acknowledged them.
func (p *chatProcess) ackedAll(bodies ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	// "sent" events come in the order the lines were typed (a message
	// queued while offline has a second one when it goes out).
	var ids []string
	for _, e := range p.evs {
		if e["event"] == "sent" {
			if id, ok := e["id"].(string); ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	acked := map[string]bool{}
	for _, e := range p.evs {
		if e["event"] == "acked" {
			list, _ := e["ids"].([]any)
			for _, id := range list {
				if s, ok := id.(string); ok {
					acked[s] = true
				}
			}
		}
	}
	// The first sent message is a1: the bodies asked for follow it.
	if len(ids) < 1+len(bodies) {
		return false
	}
	for _, id := range ids[1 : 1+len(bodies)] {
		if !acked[id] {
			return false
		}
	}
	return true
}

// waitUntil waits up to d for cond, checked after every event and every
// 20 ms (cond may depend on more than the chat's events).
func (p *chatProcess) waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-p.wake:
		case <-tick.C:
		case <-p.done:
			return cond()
		case <-deadline.C:
			return cond()
		}
	}
	return true
}

// events returns a copy of the events so far.
func (p *chatProcess) events() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.evs)
}

// eventsSince returns the events stamped at or after t (to the
// millisecond the JSON carries).
func (p *chatProcess) eventsSince(t time.Time) []map[string]any {
	var out []map[string]any
	for _, e := range p.events() {
		ts, _ := e["time"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err == nil && !at.Before(t.Truncate(time.Millisecond)) {
			out = append(out, e)
		}
	}
	return out
}

// firstSince returns the first event at or after t that matches, or nil.
func (p *chatProcess) firstSince(t time.Time, match func(map[string]any) bool) map[string]any {
	for _, e := range p.eventsSince(t) {
		if match(e) {
			return e
		}
	}
	return nil
}

// deadSendBound bounds the time from typing a message into a connection
// that died silently to the peer having it: the acceptance figure is 20 s
// (the ack timeout, 10 s, and a repair), not the idle probe's 5 minutes.
const deadSendBound = 20 * time.Second

// deadSendCycle runs a chat process (the binary bin) logged in as alice
// through addr while it runs, breaks its path with fault (the pid is the
// chat's) and types a message into the dead connection; bob writes too.
// The message reaches bob within deadSendBound, the client reports the
// dead connection, and every message both ways arrives exactly once.
func deadSendCycle(t *testing.T, bin string, srv integration.Server, addr string, fault pathFault) {
	t.Helper()
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	bobSession, bobMu, bobGot := peer(t, srv, bob, integration.Password)
	env := append(os.Environ(), "XMPPBG_PASSWORD="+integration.Password)
	chat := startChatProcess(t, bin, env, "--config", os.DevNull, "--jid", alice, "--addr", addr, "--ca-file", srv.CAFile(), "--to", bob)
	chat.waitFor("online", func(e map[string]any) bool { return e["event"] == "state" && e["state"] == "online" })
	// Acknowledged: the server handled alice's presence (see
	// suspensionCycle), so bob's message goes to this session.
	chat.send("hello")
	chat.waitFor("hello acked", func(e map[string]any) bool { return e["event"] == "acked" })

	fault.apply(t, chat.cmd.Process.Pid)
	typed := time.Now()
	chat.send("into the void")
	if _, err := bobSession.SendMessage(context.Background(), session.Message{To: alice, Body: "from bob"}); err != nil {
		t.Fatal(err)
	}
	arrived := func() bool {
		bobMu.Lock()
		defer bobMu.Unlock()
		return bobGot["hello"] == 1 && bobGot["into the void"] == 1 && slices.Contains(chat.received(), "from bob")
	}
	if !chat.waitUntil(deadSendBound, arrived) {
		bobMu.Lock()
		t.Fatalf("%s: not delivered both ways %v after typing: bob has %v; alice's events %v; %s", fault.name, deadSendBound, bobGot, chat.events(), offline(srv, "alice"))
	}
	t.Logf("%s: delivered both ways %v after typing", fault.name, time.Since(typed).Round(time.Millisecond))
	if chat.firstSince(typed, func(e map[string]any) bool { return e["event"] == "dead" }) == nil {
		t.Errorf("%s: no dead event; events since typing: %v", fault.name, chat.eventsSince(typed))
	}
	chat.endAndCheckOnce(t, fault.name, bobMu, bobGot, []string{"from bob"}, []string{"hello", "into the void"})
}

// offline says how many messages wait in user's offline storage, for a
// failed test's message.
func offline(srv integration.Server, user string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := srv.OfflineCount(ctx, user)
	if err != nil {
		return "offline storage: " + err.Error()
	}
	return fmt.Sprintf("%d in %s's offline storage", n, user)
}
