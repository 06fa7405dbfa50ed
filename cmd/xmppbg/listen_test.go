//go:build unix

package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/reconnect"
)

// waitEvents waits until stdout holds n events called name and returns them.
func waitEvents(t *testing.T, done <-chan result, inv *invocation, name string, n int, within time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs := eventsNamed(jsonLines(t, inv.stdout.String()), name)
		if len(evs) >= n {
			return evs
		}
		select {
		case r := <-done:
			t.Fatalf("xmppbg ended (exit %d) before %d %q events; stdout:\n%s\nstderr:\n%s", r.code, n, name, r.stdout, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d %q events in %v; stdout:\n%s\nstderr:\n%s", n, name, within, inv.stdout.String(), inv.stderr.String())
		}
	}
}

// onlineStates returns the "online" state events.
func onlineStates(events []map[string]any) []map[string]any {
	var out []map[string]any
	for _, ev := range eventsNamed(events, "state") {
		if ev["state"] == "online" {
			out = append(out, ev)
		}
	}
	return out
}

// listen keeps listening through a connection the network tears (it used to
// exit): the stream is resumed and a message sent while it was down arrives
// exactly once. A SIGCONT (the process was stopped and continued) makes it
// probe its connection and say so, with no message lost either. Not
// parallel: the SIGCONT reaches every detector in this process.
func TestListenRepairsAndNoticesSIGCONT(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
		env := map[string]string{envPassword: integration.Password}
		proxy, err := faultproxy.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()

		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		listen := &invocation{
			args: []string{"listen", "--json", "--jid", bob, "--addr", proxy.Addr(), "--ca-file", srv.CAFile()},
			env:  env, stdout: new(syncBuffer), stderr: new(syncBuffer),
		}
		done := make(chan result, 1)
		lctx, stopListen := context.WithCancel(ctx)
		defer stopListen()
		go func() { done <- listen.run(lctx) }()
		waitEvents(t, done, listen, "state", 2, time.Minute) // connecting, online

		send := func(body string) {
			t.Helper()
			r := runXmppbg(ctx, env, "send", "--json", "--jid", alice, "--addr", srv.Addr(), "--ca-file", srv.CAFile(), bob, body)
			if r.code != exitOK {
				t.Fatalf("send: exit %d; stderr %q", r.code, r.stderr)
			}
		}

		// The network tears the connection; a message is sent while
		// listen is (or may be) away.
		if err := proxy.ResetPeer(); err != nil {
			t.Fatal(err)
		}
		send("while torn")
		waitEvents(t, done, listen, "message", 1, time.Minute)
		online := onlineStates(jsonLines(t, listen.stdout.String()))
		if len(online) < 2 {
			waitEvents(t, done, listen, "resumed", 1, time.Minute)
		}

		// Stopped and continued (SIGCONT: Unix only, as this file): probe,
		// back online, say why.
		if err := syscall.Kill(os.Getpid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// (A change of the shared machine's network may be noticed too.)
		for n := 1; ; n++ {
			woke := waitEvents(t, done, listen, "woke", n, 30*time.Second)
			if w := woke[n-1]; w["cause"] == "sigcont" {
				if w["action"] != "probe" {
					t.Fatalf("woke %v, want action probe", w)
				}
				break
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs := jsonLines(t, listen.stdout.String())
			on := onlineStates(evs)
			if last := on[len(on)-1]; last["ms"] != nil {
				// Online again after the wake-up, within the probe
				// timeout and a margin for the load of a shared machine.
				if ms := last["ms"].(float64); time.Duration(ms)*time.Millisecond > reconnect.DefaultProbeTimeout+3*time.Second {
					t.Errorf("online again %v ms after the wake-up", ms)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not online again after the wake-up; stdout:\n%s", listen.stdout.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		send("after the wake-up")
		waitEvents(t, done, listen, "message", 2, time.Minute)

		stopListen()
		r := <-done
		if r.code != exitOK {
			t.Fatalf("listen: exit %d; stderr %q", r.code, r.stderr)
		}
		events := jsonLines(t, r.stdout)
		var bodies []string
		for _, m := range eventsNamed(events, "message") {
			bodies = append(bodies, m["body"].(string))
		}
		if got := strings.Join(bodies, "|"); got != "while torn|after the wake-up" {
			t.Fatalf("messages %q, want each once, in order; stdout:\n%s", got, r.stdout)
		}
		if d := eventsNamed(events, "dead"); len(d) == 0 {
			t.Errorf("the torn connection was not reported dead; stdout:\n%s", r.stdout)
		}
		st := eventsNamed(events, "state")
		if last := st[len(st)-1]; last["state"] != "offline" {
			t.Errorf("last state %v, want offline", last)
		}
	})
}
