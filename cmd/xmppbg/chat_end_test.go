package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
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
	last := events[len(events)-1]
	if last["event"] != "state" || last["state"] != "offline" || len(events) != quitAt+2 {
		t.Errorf("want quit, then one state offline as the last line:\n%s", r.stdout)
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
