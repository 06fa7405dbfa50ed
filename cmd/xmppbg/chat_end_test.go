package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/toxic"
)

// checkEnding checks the end of chat --json's contract: every event of the
// work (each message sent acknowledged) before the one "quit", then one
// "state offline", the last line.
func checkEnding(t *testing.T, r result, reason string) []map[string]any {
	t.Helper()
	events := jsonLines(t, r.stdout)
	if len(events) == 0 {
		t.Fatalf("no events; stderr %q", r.stderr)
	}
	quitAt := slices.IndexFunc(events, func(e map[string]any) bool { return e["event"] == "quit" })
	if n := len(eventsNamed(events, "quit")); n != 1 || events[quitAt]["reason"] != reason {
		t.Fatalf("%d quit events, want one with reason %q:\n%s", n, reason, r.stdout)
	}
	if r.code != exitOK {
		return checkEndingOrder(t, r, events, quitAt)
	}
	acked := map[string]int{}
	for i, e := range events {
		if e["event"] == "acked" {
			for _, id := range e["ids"].([]any) {
				acked[id.(string)] = i
			}
		}
	}
	for _, e := range eventsNamed(events, "sent") {
		at, ok := acked[e["id"].(string)]
		if !ok || at > quitAt {
			t.Errorf("sent %v: acknowledged at line %d, quit at %d:\n%s", e, at, quitAt, r.stdout)
		}
	}
	end := len(events)
	if r.code != exitOK && events[end-1]["event"] == "error" && events[end-1]["code"] == float64(r.code) {
		end-- // the error that ends the command comes after
	}
	last := events[end-1]
	if last["event"] != "state" || last["state"] != "offline" || end != quitAt+2 {
		t.Errorf("want quit, then one state offline as the last line:\n%s", r.stdout)
	}
	return events
}

// checkEndingOrder is checkEnding for a chat that failed: no
// acknowledgement is expected, the order is.
func checkEndingOrder(t *testing.T, r result, events []map[string]any, quitAt int) []map[string]any {
	t.Helper()
	n := len(events)
	if n != quitAt+3 || events[n-2]["event"] != "state" || events[n-2]["state"] != "offline" || events[n-1]["event"] != "error" {
		t.Errorf("want quit, one state offline, then the error:\n%s", r.stdout)
	}
	return events
}

// sentIDs returns the ids of the messages sent (a queued message has two
// sent events).
func sentIDs(events []map[string]any) []string {
	var ids []string
	for _, e := range eventsNamed(events, "sent") {
		if id := e["id"].(string); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestChatJSONEnding: stdin given whole and closed at once, with messages
// pending, and while suspended, on every real server.
func TestChatJSONEnding(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		env := map[string]string{envPassword: integration.Password}
		bob := "bob@" + srv.Domain()
		run := func(t *testing.T, input string, more ...string) result {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			args := append([]string{"chat", "--json", "--jid", "alice@" + srv.Domain(), "--addr", srv.Addr(), "--ca-file", srv.CAFile()}, more...)
			inv := &invocation{args: args, env: env, stdin: strings.NewReader(input)}
			r := inv.run(ctx)
			if r.code != exitOK {
				t.Errorf("exit %d; stderr %q", r.code, r.stderr)
			}
			return r
		}
		t.Run("EmptyInput", func(t *testing.T) {
			events := checkEnding(t, run(t, ""), quitEOF)
			if !slices.Contains(chatStates(events), "online") {
				t.Errorf("never online: %v", chatStates(events))
			}
		})
		t.Run("Pending", func(t *testing.T) {
			events := checkEnding(t, run(t, "/msg "+bob+" one\n/msg "+bob+" two\n"), quitEOF)
			if n := len(sentIDs(events)); n != 2 {
				t.Errorf("%d sent", n)
			}
		})
		t.Run("Quit", func(t *testing.T) {
			events := checkEnding(t, run(t, "/msg "+bob+" one\n/quit\n/msg "+bob+" never\n", "--to", bob), quitCommand)
			if n := len(sentIDs(events)); n != 1 {
				t.Errorf("%d sent", n)
			}
		})
		t.Run("Unacknowledged", func(t *testing.T) {
			proxy, err := toxic.Start(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			c := startChat(t, t.Context(), env, "--jid", "alice@"+srv.Domain(), "--addr", proxy.Addr(), "--ca-file", srv.CAFile(), "--quit-timeout", "1s")
			c.waitState("online")
			proxy.Blackhole()
			c.send("/msg " + bob + " into the black hole")
			c.waitEvent("sent")
			r := c.quit()
			if r.code != exitTimeout {
				t.Errorf("exit %d, want %d", r.code, exitTimeout)
			}
			checkEnding(t, r, quitEOF)
		})
		for _, policy := range []string{"detach", "hold", "close"} {
			t.Run("Suspended-"+policy, func(t *testing.T) {
				events := checkEnding(t, run(t, "/msg "+bob+" before\n/suspend\n/msg "+bob+" while suspended\n", "--bg-policy", policy), quitEOF)
				if n := len(sentIDs(events)); n != 2 {
					t.Errorf("%d sent", n)
				}
			})
		}
	})
}
