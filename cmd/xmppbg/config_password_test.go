package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// go-sendxmpp's "key: value" lines are read, with its key names.
func TestParseConfigSendxmppForm(t *testing.T) {
	in := "username: alice@example.org\neval_password: pass show xmpp:alice\naddr: [::1]:5222\nca-file = /a:b.pem\n"
	got, err := parseConfig("cfg", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []configEntry{{"jid", "alice@example.org", 1}, {"password-command", "pass show xmpp:alice", 2}, {"addr", "[::1]:5222", 3}, {"ca-file", "/a:b.pem", 4}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"jserver: xmpp.example.org", "cfg:1: jserver (go-sendxmpp) is not a setting here: use addr = HOST:PORT"},
		{"jid: a@b\nport: 5222", "cfg:2: port (go-sendxmpp)"},
		{"password: hunter2", "cfg:1: passwords are not kept"},
	} {
		_, err := parseConfig("cfg", strings.NewReader(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.msg) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseConfig(%q) = %v, want %q", tc.in, err, tc.msg)
		}
	}
}

// A line that is not a setting may be a secret (the old perl sendxmpp's
// ~/.sendxmpprc holds "user@server password" lines): the error names the
// line, never shows it.
func TestParseConfigErrorsHideTheLine(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"alice@example.org hunter2", "cfg:1: want key = value"},
		{"jid = a@b\nalice@example.org hunt=er2", "cfg:2: invalid key"},
		{"alice@example.org\thunter2: x", "cfg:1: invalid key"},
	} {
		_, err := parseConfig("cfg", strings.NewReader(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.msg) || strings.Contains(err.Error(), "hunt") {
			t.Errorf("parseConfig(%q) = %v, want %q without the line's text", tc.in, err, tc.msg)
		}
	}
}

// A bad value in the file names the file and the line, in words.
func TestConfigValueErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"jid = a@b\nbg-policy = keep\n", ":2: bg-policy = keep: want hold, detach, close"},
		{"insecure-skip-verify = yes\n", ":1: insecure-skip-verify = yes: want true or false"},
		{"log-level = loud\n", ":1: log-level = loud: want debug, info, warn, error"},
		{"quit-timeout: soon\n", ":1: quit-timeout = soon: want a duration"},
	} {
		path := filepath.Join(dir, "config")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		code := runContext(t.Context(), []string{"chat", "--config", path, "--jid", "a@b"}, &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &stderr}, func(string) string { return "" })
		if code != exitUsage || !strings.Contains(stderr.String(), path+tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.content, code, stderr.String(), path+tc.want)
		}
		if strings.Contains(stderr.String(), "strconv") || strings.Contains(stderr.String(), "time: ") {
			t.Errorf("%q: Go's words in %q", tc.content, stderr.String())
		}
	}
}

func TestPasswordCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the commands below are sh")
	}
	t.Parallel()
	g := func(cmd string) *globalOptions {
		return &globalOptions{IO: &IOStreams{In: strings.NewReader("the message text"), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
			Getenv: func(string) string { return "" }, PasswordCommand: cmd, ctx: t.Context()}
	}
	// The first line of its output; its stdin is not ours.
	pw, err := g(`read x; printf 's3cret pw\nsecond line\n'`).password("a@b")
	if err != nil || pw != "s3cret pw" {
		t.Errorf("password = %q, %v", pw, err)
	}
	// A failure: exit 2 (no password), the status and stderr said, never
	// stdout, never the command line.
	_, err = g(`echo leaked-secret; echo 'gpg: decryption failed' >&2; exit 3`).password("a@b")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "password-command failed (exit status 3)") ||
		!strings.Contains(err.Error(), "gpg: decryption failed") || strings.Contains(err.Error(), "leaked-secret") || strings.Contains(err.Error(), "echo") {
		t.Errorf("failing command: %v", err)
	}
	_, err = g(`true`).password("a@b")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "printed no password") {
		t.Errorf("empty output: %v", err)
	}
	// Interrupted (SIGINT cancels the context): at once.
	ctx, cancel := context.WithCancel(t.Context())
	o := g(`sleep 60`)
	o.ctx = ctx
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = o.password("a@b")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "interrupted") || time.Since(start) > 10*time.Second {
		t.Errorf("interrupted: %v after %v", err, time.Since(start))
	}
	// XMPPBG_PASSWORD and --password-file come first.
	o = g(`exit 1`)
	o.Getenv = func(k string) string { return map[string]string{envPassword: "from env"}[k] }
	if pw, err := o.password("a@b"); pw != "from env" || err != nil {
		t.Errorf("env first: %q, %v", pw, err)
	}
}

func TestVersionString(t *testing.T) {
	info := func(v string, settings ...debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "github.com/xmppbg/xmppbg", Version: v}, Settings: settings}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	for _, tc := range []struct {
		set  string
		info *debug.BuildInfo
		want string
	}{
		{"v9.9.9", info("v1.2.3"), "v9.9.9"},
		{"dev", info("v1.2.3"), "v1.2.3"},
		{"dev", info("(devel)", rev), "dev-0123456789ab"},
		{"dev", info("(devel)", rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "dev-0123456789ab-dirty"},
		{"dev", info("(devel)"), "dev"},
		{"dev", nil, "dev"},
	} {
		if got := versionString(tc.set, tc.info, tc.info != nil); got != tc.want {
			t.Errorf("versionString(%q, %+v) = %q, want %q", tc.set, tc.info, got, tc.want)
		}
	}
}

// checkAddress never panics, accepts only what RFC 7622 accepts with a
// localpart, and never quotes the input raw (terminal escapes).
func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{"bob@example.org", "bad jid@@", "notajid", "b@x/r", "@x", "a@\x1b[2J", "ä@ß.de/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkAddress("recipient", s)
		if err == nil {
			if _, perr := jid.Parse(s); perr != nil || !strings.Contains(s, "@") {
				t.Fatalf("accepted %q (jid.Parse: %v)", s, perr)
			}
			return
		}
		if exitCode(err) != exitUsage || strings.ContainsAny(err.Error(), "\x1b\n\r") {
			t.Fatalf("checkAddress(%q) = %q", s, err)
		}
	})
}
