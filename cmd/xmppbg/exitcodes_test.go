package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
)

// exitCase is one real invocation and what it must end with.
type exitCase struct {
	name string
	code int
	args []string
	env  map[string]string
	// want is in stderr; jargon never is.
	want string
}

// jargon are words of Go or of a library that must not reach the user.
var jargon = []string{"idna:", "strconv.", "session: ", "reconnect: ", "driver: ", "suspend: ", "xmpp: ", "jid: ", "open /", "stream-level chardata"}

func (tc exitCase) check(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	env := tc.env
	if env == nil {
		env = map[string]string{envPassword: integration.Password}
	}
	r := runXmppbg(ctx, env, tc.args...)
	if r.code != tc.code {
		t.Errorf("%s: exit %d, want %d; stderr %q", tc.name, r.code, tc.code, r.stderr)
	}
	if !strings.Contains(r.stderr, tc.want) {
		t.Errorf("%s: stderr %q lacks %q", tc.name, r.stderr, tc.want)
	}
	for _, j := range jargon {
		if strings.Contains(r.stderr, j) {
			t.Errorf("%s: %q in the user's message %q", tc.name, j, r.stderr)
		}
	}
}

// listener serves every connection with f on a loopback port until the
// test ends.
func listener(t *testing.T, f func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				f(c)
			}()
		}
	}()
	return l.Addr().String()
}

// TestExitCodesDocumented runs one real invocation for every exit code the
// help documents (and the ways users reach the codes most often), and
// checks that no documented code lacks one.
func TestExitCodesDocumented(t *testing.T) {
	dir := t.TempDir()
	noXMPP := listener(t, func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1\r\n") })
	httpish := listener(t, func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	silent := listener(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	refusedL, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := refusedL.Addr().String()
	refusedL.Close()
	failing := filepath.Join(dir, "fails.scn")
	if err := os.WriteFile(failing, []byte("peer send 1\nexpect received 2 within 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	send := func(addr string, more ...string) []string {
		return append([]string{"send", "--jid", "alice@localhost", "--addr", addr}, append(more, "bob@localhost", "hi")...)
	}
	cases := []exitCase{
		{name: "version", code: exitOK, args: []string{"version"}},
		{name: "unknown command", code: exitUsage, args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
		{name: "invalid port", code: exitUsage, args: send("localhost:99999"), want: "not a number from 1 to 65535"},
		// 60,000 apostrophes are 300 KB as sent (&#39;): above what a
		// server takes in one stanza, refused before any login.
		{name: "text too long", code: exitUsage, args: []string{"send", "--jid", "alice@localhost", "--addr", refused, "bob@localhost", strings.Repeat("'", 60000)}, want: "too long for one message"},
		{name: "invalid recipient", code: exitUsage, args: []string{"send", "--jid", "alice@localhost", "--addr", refused, "bad jid@@", "hi"}, want: "invalid recipient"},
		{name: "missing --ca-file", code: exitUsage, args: send(refused, "--ca-file", filepath.Join(dir, "nope.pem")), want: "--ca-file " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		{name: "missing --password-file", code: exitUsage, env: map[string]string{}, args: send(refused, "--password-file", filepath.Join(dir, "nope")), want: "--password-file " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{name: "completion tcsh", code: exitUsage, args: []string{"completion", "tcsh"}, want: `unsupported shell "tcsh"`},
		{name: "no password", code: exitUsage, env: map[string]string{}, args: send(refused), want: "no password"},
		{name: "connection refused", code: exitConn, args: send(refused), want: "cannot connect to " + refused},
		{name: "not XMPP (SSH)", code: exitConn, args: send(noXMPP), want: "no XMPP server on that port?"},
		{name: "not XMPP (HTTP)", code: exitConn, args: send(httpish), want: "no XMPP server on that port?"},
		{name: "silent server", code: exitTimeout, args: send(silent, "--timeout", "1s"), want: "the server did not answer"},
		{name: "scenario failed", code: exitFailed, args: []string{"demo", failing}, want: "expectations failed"},
	}
	// The codes that need a real server: every server.
	covered := map[int]bool{exitError: true, exitAuth: true, exitCert: true, exitBounced: true}
	for _, tc := range cases {
		covered[tc.code] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^  (\d)  `).FindAllStringSubmatch(exitCodesHelp, -1) {
		if n, _ := strconv.Atoi(m[1]); !covered[n] {
			t.Errorf("documented exit code %d has no case", n)
		}
	}

	t.Run("NoServer", func(t *testing.T) {
		for _, tc := range cases {
			if tc.code == exitFailed {
				needProsody(t)
			}
			tc.check(t)
		}
	})

	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		ok := []string{"--addr", srv.Addr(), "--ca-file", srv.CAFile()}
		as := func(user string, more ...string) []string {
			return append(append([]string{"send", "--jid", user + "@" + srv.Domain()}, ok...), more...)
		}
		bob := "bob@" + srv.Domain()
		for _, tc := range []exitCase{
			{name: "sent", code: exitOK, args: as("alice", bob, "hi")},
			{name: "wrong domain", code: exitError, args: append([]string{"send", "--jid", "alice@example.org", "--addr", srv.Addr(), "--insecure-skip-verify"}, bob, "hi"),
				want: "does not serve example.org"},
			{name: "wrong password", code: exitAuth, env: map[string]string{envPassword: "wrong"}, args: as("alice", bob, "hi"), want: "check the JID and the password"},
			{name: "untrusted certificate", code: exitCert, args: []string{"send", "--jid", "alice@" + srv.Domain(), "--addr", srv.Addr(), bob, "hi"}, want: "not trusted"},
			{name: "bounced", code: exitBounced, args: as("alice", "nobody@"+srv.Domain(), "hi"), want: "bounced"},
		} {
			tc.check(t)
		}
	})
}
