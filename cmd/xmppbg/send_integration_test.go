package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
)

// TestSendIntegration runs send against every real server: it leaves the
// account's offline messages alone, reports a bounce, takes its text from
// stdin and sends to several recipients.
func TestSendIntegration(t *testing.T) {
	opts := integration.Options{Accounts: map[string]string{
		"alice": integration.Password, "bob": integration.Password, "carol": integration.Password,
	}}
	integration.Each(t, opts, func(t *testing.T, srv integration.Server) {
		env := map[string]string{envPassword: integration.Password}
		jid := func(user string) string { return user + "@" + srv.Domain() }
		common := func(user string, args ...string) []string {
			return append([]string{"--jid", jid(user), "--addr", srv.Addr(), "--ca-file", srv.CAFile()}, args...)
		}
		send := func(t *testing.T, stdin string, user string, args ...string) result {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			inv := &invocation{args: append([]string{"send", "--json"}, common(user, args...)...), env: env, stdin: strings.NewReader(stdin)}
			return inv.run(ctx)
		}

		// Issue #14, point 1: bob writes twice while alice is offline;
		// alice sends (from stdin); a later listen shows both.
		t.Run("KeepsOfflineMessages", func(t *testing.T) {
			for _, body := range []string{"stored one", "stored two"} {
				if r := send(t, body+"\n", "bob", jid("alice")); r.code != exitOK {
					t.Fatalf("bob's send: exit %d, stderr %q", r.code, r.stderr)
				}
			}
			r := send(t, "from a pipe\n", "alice", jid("carol"))
			if r.code != exitOK {
				t.Fatalf("alice's send: exit %d, stderr %q", r.code, r.stderr)
			}
			if got := eventsNamed(jsonLines(t, r.stdout), "message"); len(got) != 0 {
				t.Errorf("send printed messages: %v", got)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			lr := runXmppbg(ctx, env, append([]string{"listen", "--json", "--count", "2", "--timeout", "30s"}, common("alice")...)...)
			if lr.code != exitOK {
				t.Fatalf("listen: exit %d, stderr %q", lr.code, lr.stderr)
			}
			var bodies []string
			for _, m := range eventsNamed(jsonLines(t, lr.stdout), "message") {
				bodies = append(bodies, m["body"].(string))
			}
			if strings.Join(bodies, "|") != "stored one|stored two" {
				t.Errorf("alice's stored messages after her send: %q", bodies)
			}
			// carol got the piped text, without its newline.
			cr := runXmppbg(ctx, env, append([]string{"listen", "--json", "--count", "1", "--timeout", "30s"}, common("carol")...)...)
			msgs := eventsNamed(jsonLines(t, cr.stdout), "message")
			if cr.code != exitOK || len(msgs) != 1 || msgs[0]["body"] != "from a pipe" {
				t.Errorf("carol: exit %d, messages %v, stderr %q", cr.code, msgs, cr.stderr)
			}
		})

		// Issue #14, point 2: a message to an unknown local user bounces;
		// send says so and exits 8. A good recipient in the same call is
		// acknowledged and not reported as bounced.
		t.Run("Bounce", func(t *testing.T) {
			nobody := jid("nobody")
			r := send(t, "", "alice", jid("bob"), nobody, "--", "are", "you", "there?")
			if r.code != exitBounced {
				t.Fatalf("exit %d, want %d; stderr %q; stdout %q", r.code, exitBounced, r.stderr, r.stdout)
			}
			events := jsonLines(t, r.stdout)
			sent := eventsNamed(events, "sent")
			if len(sent) != 2 || sent[0]["to"] != jid("bob") || sent[1]["to"] != nobody {
				t.Fatalf("sent = %v", sent)
			}
			b := eventsNamed(events, "bounced")
			if len(b) != 1 || b[0]["id"] != sent[1]["id"] || b[0]["to"] != nobody || b[0]["condition"] != "service-unavailable" {
				t.Errorf("bounced = %v", b)
			}
			a := eventsNamed(events, "acked")
			if len(a) != 1 || a[0]["ids"].([]any)[0] != sent[0]["id"] {
				t.Errorf("acked = %v", a)
			}
			if !strings.Contains(r.stderr, "to "+nobody+" bounced: the recipient does not exist") {
				t.Errorf("stderr = %q", r.stderr)
			}
			if e := eventsNamed(events, "error"); len(e) != 1 || e[0]["code"] != float64(exitBounced) {
				t.Errorf("error events = %v", e)
			}

			// Human output: no "acknowledged" line for the bounced one.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			hr := runXmppbg(ctx, env, append([]string{"send"}, common("alice", nobody, "hello?")...)...)
			if hr.code != exitBounced || hr.stdout != "" || !strings.Contains(hr.stderr, "xmppbg: message ") {
				t.Errorf("human: exit %d, stdout %q, stderr %q", hr.code, hr.stdout, hr.stderr)
			}
		})
	})
}

// TestSendWithoutSM: without stream management nothing is acknowledged;
// send warns, still waits for the ping's round trip, reports a bounce, and
// exits 0 for a message that did not bounce.
func TestSendWithoutSM(t *testing.T) {
	integration.Each(t, integration.Options{DisableSM: true}, func(t *testing.T, srv integration.Server) {
		env := map[string]string{envPassword: integration.Password}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		common := []string{"send", "--json", "--jid", "alice@" + srv.Domain(), "--addr", srv.Addr(), "--ca-file", srv.CAFile()}
		r := runXmppbg(ctx, env, append(common, "bob@"+srv.Domain(), "hi")...)
		events := jsonLines(t, r.stdout)
		if r.code != exitOK || len(eventsNamed(events, "unacked")) != 1 || len(eventsNamed(events, "warning")) == 0 {
			t.Errorf("exit %d, stdout %s, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = runXmppbg(ctx, env, append(common, "nobody@"+srv.Domain(), "hi")...)
		if b := eventsNamed(jsonLines(t, r.stdout), "bounced"); r.code != exitBounced || len(b) != 1 {
			t.Errorf("to nobody: exit %d, stdout %s", r.code, r.stdout)
		}
	})
}
