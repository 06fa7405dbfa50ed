package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

// TestIntegration runs xmppbg against a real Prosody (skipped without the
// prosody binary, except under CI=true).
func TestIntegration(t *testing.T) {
	const pw = "correct horse battery staple"
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": pw, "bob": pw, "carol": pw}})
	alice := "alice@" + srv.Domain()
	bob := "bob@" + srv.Domain()
	carol := "carol@" + srv.Domain()
	env := map[string]string{envPassword: pw}

	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("SendListen", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		listen := &invocation{
			args: []string{"listen", "--json", "--count", "1", "--timeout", "45s",
				"--jid", bob, "--addr", srv.Addr(), "--ca-file", srv.CAFile()},
			env:    env,
			stdout: new(syncBuffer),
			stderr: new(syncBuffer),
		}
		done := make(chan result, 1)
		go func() { done <- listen.run(ctx) }()
		waitFor(t, done, listen, `"state":"online"`)

		r := runXmppbg(ctx, nil, "send", "--json", "--jid", alice, "--addr", srv.Addr(),
			"--ca-file", srv.CAFile(), "--password-file", pwFile, bob, "hello", "bob,", "<&>")
		if r.code != exitOK {
			t.Fatalf("send: exit %d; stderr %q; stdout %q", r.code, r.stderr, r.stdout)
		}
		sent := jsonLines(t, r.stdout)
		s, a := eventsNamed(sent, "sent"), eventsNamed(sent, "acked")
		if len(s) != 1 || len(a) != 1 {
			t.Fatalf("send stdout: %s", r.stdout)
		}
		id, _ := s[0]["id"].(string)
		ids, _ := a[0]["ids"].([]any)
		if id == "" || s[0]["to"] != bob || len(ids) != 1 || ids[0] != id {
			t.Errorf("sent %v, acked %v: want the same id", s[0], a[0])
		}

		var lr result
		select {
		case lr = <-done:
		case <-ctx.Done():
			t.Fatalf("listen did not end; stdout %q", listen.stdout.String())
		}
		if lr.code != exitOK {
			t.Fatalf("listen: exit %d; stderr %q", lr.code, lr.stderr)
		}
		events := jsonLines(t, lr.stdout)
		msgs := eventsNamed(events, "message")
		if len(msgs) != 1 {
			t.Fatalf("listen: %d messages: %s", len(msgs), lr.stdout)
		}
		m := msgs[0]
		if m["body"] != "hello bob, <&>" || !strings.HasPrefix(m["from"].(string), alice+"/") || m["id"] != id || m["delayed"] != false {
			t.Errorf("message = %v", m)
		}
		states := eventsNamed(events, "state")
		if len(states) != 3 || states[0]["state"] != "connecting" || states[1]["state"] != "online" || states[2]["state"] != "offline" {
			t.Errorf("states = %v", states)
		}
		if strings.Contains(lr.stdout+lr.stderr+r.stdout+r.stderr, pw) {
			t.Error("the password was printed")
		}
	})

	t.Run("ListenTimeoutAndInterrupt", func(t *testing.T) {
		r := runXmppbg(t.Context(), env, "listen", "--count", "1", "--timeout", "1500ms",
			"--jid", carol, "--addr", srv.Addr(), "--ca-file", srv.CAFile())
		if r.code != exitTimeout || !strings.Contains(r.stderr, "xmppbg: --timeout 1.5s passed after 0 of 1 messages") {
			t.Errorf("timeout before count: exit %d, stderr %q", r.code, r.stderr)
		}

		// Interrupted (the context is what SIGINT cancels): exit 0.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		listen := &invocation{
			args: []string{"listen", "--jid", carol, "--addr", srv.Addr(), "--ca-file", srv.CAFile()},
			env:  env, stdout: new(syncBuffer), stderr: new(syncBuffer),
		}
		done := make(chan result, 1)
		go func() { done <- listen.run(ctx) }()
		waitFor(t, done, listen, "Listening as "+carol)
		cancel()
		if r := <-done; r.code != exitOK || r.stdout != "" {
			t.Errorf("interrupted: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		const wrong = "not-the-password-0xdeadbeef"
		r := runXmppbg(t.Context(), map[string]string{envPassword: wrong}, "send", "--json", "--jid", alice,
			"--addr", srv.Addr(), "--ca-file", srv.CAFile(), bob, "hi")
		if r.code != exitAuth {
			t.Fatalf("exit %d, want %d; stderr %q", r.code, exitAuth, r.stderr)
		}
		if !strings.Contains(r.stderr, "xmppbg: authentication as "+alice+" failed") || !strings.Contains(r.stderr, "check the JID and the password") {
			t.Errorf("stderr = %q", r.stderr)
		}
		errs := eventsNamed(jsonLines(t, r.stdout), "error")
		if len(errs) != 1 || errs[0]["code"] != float64(exitAuth) {
			t.Errorf("stdout = %q", r.stdout)
		}
		for _, secret := range []string{wrong, pw} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("a password was printed: %q %q", r.stdout, r.stderr)
			}
		}
	})

	t.Run("WrongPasswordEnv", func(t *testing.T) {
		// Through the real environment and run(), as the binary does.
		const wrong = "another-wrong-one-0xfeed"
		t.Setenv(envPassword, wrong)
		var stdout, stderr syncBuffer
		code := run([]string{"listen", "--jid", alice, "--addr", srv.Addr(), "--ca-file", srv.CAFile(), "--log-level", "debug"},
			strings.NewReader(""), &stdout, &stderr)
		if code != exitAuth {
			t.Errorf("exit %d, want %d; stderr %q", code, exitAuth, stderr.String())
		}
		if strings.Contains(stdout.String()+stderr.String(), wrong) {
			t.Errorf("the password was printed (debug logs included): %q", stderr.String())
		}
	})

	t.Run("UntrustedCertificate", func(t *testing.T) {
		r := runXmppbg(t.Context(), env, "send", "--jid", alice, "--addr", srv.Addr(), bob, "hi")
		if r.code != exitCert {
			t.Fatalf("exit %d, want %d; stderr %q", r.code, exitCert, r.stderr)
		}
		for _, want := range []string{"not trusted", "--ca-file", "--insecure-skip-verify", "x509"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %q", want, r.stderr)
			}
		}

		r = runXmppbg(t.Context(), env, "send", "--jid", alice, "--addr", srv.Addr(), "--insecure-skip-verify", bob, "insecure", "hi")
		if r.code != exitOK {
			t.Fatalf("--insecure-skip-verify: exit %d; stderr %q", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "xmppbg: warning: --insecure-skip-verify") {
			t.Errorf("no warning: %q", r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "sent to "+bob+" (id ") || !strings.HasSuffix(r.stdout, "), acknowledged by the server\n") {
			t.Errorf("stdout = %q", r.stdout)
		}
	})
}

// waitFor waits until a running command printed want (on stdout or stderr),
// failing the test if it ends first.
func waitFor(t *testing.T, done chan result, inv *invocation, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(inv.stdout.String()+inv.stderr.String(), want) {
		select {
		case r := <-done:
			t.Fatalf("command ended (exit %d) before printing %q; stdout %q; stderr %q", r.code, want, r.stdout, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after 20s; stdout %q; stderr %q", want, inv.stdout.String(), inv.stderr.String())
		}
	}
}
