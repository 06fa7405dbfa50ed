package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/session"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"other", errors.New("boom"), exitError},
		{"usage", usageErrorf("bad"), exitUsage},
		{"usage wrapped", fmt.Errorf("x: %w", usageErrorf("bad")), exitUsage},
		{"session config", fmt.Errorf("%w: invalid JID", session.ErrConfig), exitUsage},
		{"auth", &session.AuthError{Condition: "not-authorized"}, exitAuth},
		{"auth in cliError", &cliError{msg: "m", err: &session.AuthError{Condition: "not-authorized"}}, exitAuth},
		{"certificate", &session.CertificateError{Err: errors.New("x509: unknown authority")}, exitCert},
		{"no STARTTLS", &session.TLSError{Reason: "the server refused STARTTLS"}, exitCert},
		{"login incomplete", fmt.Errorf("%w: no bind", session.ErrLoginIncomplete), exitError},
		{"conn", &session.ConnError{Op: "dial", Err: syscall.ECONNREFUSED}, exitConn},
		{"not acked, conn", fmt.Errorf("%w: %w", session.ErrNotAcked, &session.ConnError{Op: "read", Err: errors.New("EOF")}), exitConn},
		{"net.OpError", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, exitConn},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), exitConn},
		{"timeout", &cliError{msg: "m", err: errTimeout}, exitTimeout},
		{"deadline", fmt.Errorf("%w: %w", session.ErrNotAcked, context.DeadlineExceeded), exitTimeout},
		{"stream error", &session.StreamError{Condition: "conflict"}, exitError},
		{"no service (SRV '.')", &session.ConnError{Op: "dial", Err: session.ErrNoService}, exitError},
		{"canceled", context.Canceled, exitError},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestMissingJID(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"send bob@localhost hi", "listen"} {
		r := runXmppbg(t.Context(), map[string]string{envPassword: "pw"}, strings.Fields(cmd)...)
		if r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d; stderr: %s", cmd, r.code, exitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, "xmppbg: --jid is required") || !strings.Contains(r.stderr, envJID) {
			t.Errorf("%s: stderr does not explain the missing --jid: %q", cmd, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%s: human mode wrote to stdout: %q", cmd, r.stdout)
		}
	}
}

func TestMissingJIDJSON(t *testing.T) {
	t.Parallel()
	r := runXmppbg(t.Context(), nil, "listen", "--json")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d", r.code, exitUsage)
	}
	events := jsonLines(t, r.stdout)
	if len(events) != 1 || events[0]["event"] != "error" || events[0]["code"] != float64(exitUsage) ||
		!strings.Contains(events[0]["error"].(string), "--jid is required") {
		t.Errorf("stdout = %q, want one error event with code 2", r.stdout)
	}
	if strings.Count(r.stderr, "--jid is required") != 1 {
		t.Errorf("stderr should hold the error once: %q", r.stderr)
	}
}

func TestJIDFromEnv(t *testing.T) {
	t.Parallel()
	// No password anywhere and stdin is no terminal: getting that far
	// proves the JID was taken from the environment.
	r := runXmppbg(t.Context(), map[string]string{envJID: "alice@localhost"}, "listen", "--addr", "127.0.0.1:1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no password") {
		t.Errorf("exit %d, stderr %q; want the missing password", r.code, r.stderr)
	}
}

func TestNoPasswordFlag(t *testing.T) {
	t.Parallel()
	r := runXmppbg(t.Context(), nil, "send", "--jid", "alice@localhost", "--password", "hunter2", "bob@localhost", "hi")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d", r.code, exitUsage)
	}
	if !strings.Contains(r.stderr, "unknown flag: --password") || !strings.Contains(r.stderr, envPassword) {
		t.Errorf("stderr does not explain: %q", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Errorf("the password was echoed: %q %q", r.stdout, r.stderr)
	}
	for _, c := range newCmdRoot(&globalOptions{IO: &IOStreams{}}).Commands() {
		if c.Flags().Lookup("password") != nil || c.InheritedFlags().Lookup("password") != nil {
			t.Errorf("%s has a --password flag", c.Name())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{envPassword: "pw"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"send", "--jid", "alice@localhost"}, "requires at least 1 arg(s)"},
		{[]string{"send", "--jid", "alice@localhost", "bob@localhost"}, "empty text on stdin"},
		{[]string{"send", "--jid", "alice@localhost", "--timeout", "soon", "bob@localhost", "hi"}, "invalid argument"},
		{[]string{"send", "--jid", "alice@localhost", "--timeout", "0s", "bob@localhost", "hi"}, "--timeout must be positive"},
		{[]string{"send", "--jid", "alice@localhost", "bob@localhost", " "}, "empty text"},
		{[]string{"send", "--jid", "alice@localhost", "bob@localhost", "-"}, "empty text on stdin"},
		{[]string{"listen", "--jid", "alice@localhost", "extra"}, "unknown command"},
		{[]string{"listen", "--jid", "alice@localhost", "--count", "-1"}, "--count must not be negative"},
		{[]string{"listen", "--jid", "alice@localhost", "--log-level", "loud"}, "invalid --log-level"},
		{[]string{"listen", "--jid", "alice"}, "want user@domain"},
		{[]string{"listen", "--jid", "alice@localhost", "--addr", "localhost"}, "want HOST:PORT"},
		{[]string{"listen", "--jid", "alice@localhost", "--addr", "localhost:99999"}, `the port "99999" is not a number from 1 to 65535`},
		{[]string{"listen", "--jid", "alice@localhost", "--addr", "localhost:xmpp"}, `the port "xmpp" is not a number`},
		{[]string{"listen", "--jid", "alice@localhost", "--addr", ":5222"}, "no host before the port"},
		{[]string{"listen", "--jid", "alice@exa_mple.org"}, `the domain "exa_mple.org" is not a valid host name`},
		{[]string{"listen", "--jid", "alice@localhost", "--ca-file", "x.pem", "--insecure-skip-verify"}, "cannot be used together"},
		{[]string{"version", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		r := runXmppbg(t.Context(), env, tt.args...)
		if r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", tt.args, r.code, exitUsage, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "xmppbg: ") || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: stderr %q, want %q", tt.args, r.stderr, tt.want)
		}
		if !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("%q: no usage hint: %q", tt.args, r.stderr)
		}
		if strings.Count(r.stderr, "xmppbg: ") != 1 {
			t.Errorf("%q: the error is printed more than once: %q", tt.args, r.stderr)
		}
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	t.Parallel()
	r := runXmppbg(t.Context(), nil, "--help")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	for _, want := range []string{"Exit codes:", "3  authentication failed", "4  no trusted TLS", "6  timeout", "send", "listen", "--password-file"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runXmppbg(t.Context(), nil, args...)
		if r.code != exitOK || r.stdout != "xmppbg dev\n" {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	r := runXmppbg(t.Context(), nil, "version", "--json")
	events := jsonLines(t, r.stdout)
	if len(events) != 1 || events[0]["event"] != "version" || events[0]["version"] != "dev" {
		t.Errorf("stdout = %q", r.stdout)
	}
}

// parse runs the root command with cmd replacing the command of the same
// name, so that its runF captures the options instead of connecting.
func parse(t *testing.T, env map[string]string, cmd func(*globalOptions) *cobra.Command, args ...string) error {
	t.Helper()
	inv := &invocation{env: env, stdout: new(syncBuffer), stderr: new(syncBuffer)}
	g := &globalOptions{IO: &IOStreams{In: strings.NewReader(""), Out: inv.stdout, ErrOut: inv.stderr}, Getenv: func(k string) string { return env[k] }}
	root := newCmdRoot(g)
	c := cmd(g)
	old, _, err := root.Find([]string{c.Name()})
	if err != nil {
		t.Fatal(err)
	}
	root.RemoveCommand(old)
	root.AddCommand(c)
	root.SetArgs(args)
	return root.ExecuteContext(t.Context())
}

func TestSendFlags(t *testing.T) {
	t.Parallel()
	var got *sendOptions
	capture := func(g *globalOptions) *cobra.Command {
		return newCmdSend(g, func(_ context.Context, o *sendOptions) error { got = o; return nil })
	}
	err := parse(t, nil, capture, "send", "--jid", "alice@example.org", "--addr", "127.0.0.1:5223",
		"--ca-file", "ca.pem", "--json", "--log-level", "debug", "--password-file", "pw", "--timeout", "5s",
		"bob@example.org", "hello,", "world")
	if err != nil {
		t.Fatal(err)
	}
	if got.JID != "alice@example.org" || got.Addr != "127.0.0.1:5223" || got.CAFile != "ca.pem" || !got.JSON ||
		got.LogLevel != "debug" || got.PasswordFile != "pw" || got.Timeout != 5*time.Second || !slices.Equal(got.To, []string{"bob@example.org"}) {
		t.Errorf("options = %+v", got)
	}
	if text, err := got.text(); err != nil || text != "hello, world" {
		t.Errorf("text() = %q, %v", text, err)
	}

	got = nil
	if err := parse(t, nil, capture, "send", "--jid", "a@b", "bob@b", "hi"); err != nil {
		t.Fatal(err)
	}
	if got.Timeout != defaultSendTimeout || got.LogLevel != "warn" || got.JSON || got.InsecureSkipVerify {
		t.Errorf("defaults = %+v", got)
	}
}

func TestSendTextFromStdin(t *testing.T) {
	t.Parallel()
	for _, words := range [][]string{{"-"}, nil} {
		opts := &sendOptions{globalOptions: &globalOptions{IO: &IOStreams{In: strings.NewReader("line one\nline two\n")}}, Text: words}
		if text, err := opts.text(); err != nil || text != "line one\nline two" {
			t.Errorf("%q: text() = %q, %v", words, text, err)
		}
	}
	opts := &sendOptions{globalOptions: &globalOptions{IO: &IOStreams{In: strings.NewReader(" \n")}}}
	if _, err := opts.text(); exitCode(err) != exitUsage {
		t.Errorf("blank stdin: %v", err)
	}
}

// TestSendRecipients: one recipient then the words, or several before "--";
// without words the text comes from stdin.
func TestSendRecipients(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		to, text []string
	}{
		{[]string{"bob@b", "hi", "there"}, []string{"bob@b"}, []string{"hi", "there"}},
		{[]string{"bob@b"}, []string{"bob@b"}, []string{}},
		{[]string{"bob@b", "carol@b", "--", "hi"}, []string{"bob@b", "carol@b"}, []string{"hi"}},
		{[]string{"bob@b", "carol@b", "--"}, []string{"bob@b", "carol@b"}, []string{}},
		{[]string{"bob@b", "--", "-"}, []string{"bob@b"}, []string{"-"}},
	}
	for _, tt := range tests {
		var got *sendOptions
		capture := func(g *globalOptions) *cobra.Command {
			return newCmdSend(g, func(_ context.Context, o *sendOptions) error { got = o; return nil })
		}
		if err := parse(t, nil, capture, append([]string{"send", "--jid", "a@b"}, tt.args...)...); err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !slices.Equal(got.To, tt.to) || !slices.Equal(got.Text, tt.text) {
			t.Errorf("%q: to %q, text %q; want %q, %q", tt.args, got.To, got.Text, tt.to, tt.text)
		}
	}
	r := runXmppbg(t.Context(), map[string]string{envPassword: "pw"}, "send", "--jid", "a@b", "--", "hi")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no recipient") {
		t.Errorf("no recipient: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSendInvalidRecipient: a recipient that is not user@domain is refused
// before anything is sent (exit 2), with a message in words, not a
// library's.
func TestSendInvalidRecipient(t *testing.T) {
	t.Parallel()
	// Nothing listens at the address: a recipient check that came after
	// the dial would exit 5, not 2.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tests := []struct{ to, want string }{
		{"bad jid@@", "no spaces"},
		{"bad@@x", "more than one"},
		{"notajid", "names a server"},
		{"@localhost", "nothing before"},
		{"bob@", "no domain"},
		{"bob@exa_mple.org", `the domain "exa_mple.org" is not a valid host name`},
		{"b<o>b@localhost", "characters a JID does not allow"},
		{"bob@localhost/", "nothing after"},
		{"", "empty recipient"},
	}
	for _, tt := range tests {
		r := runXmppbg(t.Context(), map[string]string{envPassword: "pw"}, "send", "--jid", "alice@localhost", "--addr", addr, tt.to, "hi")
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.to, r.code, r.stderr, tt.want)
		}
		for _, jargon := range []string{"idna", "jid:", "localpart", "session:"} {
			if strings.Contains(r.stderr, jargon) {
				t.Errorf("%q: library words in %q", tt.to, r.stderr)
			}
		}
	}
	// Several recipients: one bad one stops all.
	r := runXmppbg(t.Context(), map[string]string{envPassword: "pw"}, "send", "--jid", "alice@localhost", "--addr", addr, "bob@localhost", "notajid", "--", "hi")
	if r.code != exitUsage || !strings.Contains(r.stderr, `"notajid"`) {
		t.Errorf("bad second recipient: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestListenFlags(t *testing.T) {
	t.Parallel()
	var got *listenOptions
	capture := func(g *globalOptions) *cobra.Command {
		return newCmdListen(g, func(_ context.Context, o *listenOptions) error { got = o; return nil })
	}
	if err := parse(t, nil, capture, "listen", "--jid", "bob@example.org", "--count", "3", "--timeout", "1m", "--insecure-skip-verify"); err != nil {
		t.Fatal(err)
	}
	if got.Count != 3 || got.Timeout != time.Minute || !got.InsecureSkipVerify || got.JID != "bob@example.org" {
		t.Errorf("options = %+v", got)
	}
}

func TestReadPasswordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content string
		want          string
		wantErr       string
	}{
		{"plain", "s3cret", "s3cret", ""},
		{"newline", "s3cret\n", "s3cret", ""},
		{"crlf", "s3cret\r\n", "s3cret", ""},
		{"first line only", "s3cret\nsecond line\n", "s3cret", ""},
		{"spaces kept", " s3 cret \n", " s3 cret ", ""},
		{"empty", "", "", "first line is empty"},
		{"empty first line", "\nsecret\n", "", "first line is empty"},
	}
	for _, tt := range tests {
		var stdout, stderr syncBuffer
		o := newOutput(&stdout, &stderr, false)
		got, err := readPasswordFile(write(tt.name, tt.content, 0o600), o)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
		if err != nil && tt.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
			t.Errorf("%s: the error holds the password: %v", tt.name, err)
		}
		if stderr.String() != "" {
			t.Errorf("%s: warning for a 0600 file: %q", tt.name, stderr.String())
		}
	}

	// Readable by others: it works, with a warning.
	var stdout, stderr syncBuffer
	got, err := readPasswordFile(write("open", "s3cret\n", 0o644), newOutput(&stdout, &stderr, false))
	if err != nil || got != "s3cret" {
		t.Errorf("0644: got %q, %v", got, err)
	}
	if !strings.Contains(stderr.String(), "warning: password file") || !strings.Contains(stderr.String(), "chmod 600") {
		t.Errorf("no warning for a 0644 file: %q", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "s3cret") {
		t.Errorf("the password was printed")
	}

	if _, err := readPasswordFile(filepath.Join(dir, "missing"), newOutput(&stdout, &stderr, false)); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestPasswordSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := func(env map[string]string, pwFile string) *globalOptions {
		return &globalOptions{
			IO:           &IOStreams{In: strings.NewReader("typed\n"), Out: new(syncBuffer), ErrOut: new(syncBuffer)},
			Getenv:       func(k string) string { return env[k] },
			PasswordFile: pwFile,
		}
	}
	if pw, err := g(map[string]string{envPassword: "from-env"}, file).password("a@b"); err != nil || pw != "from-env" {
		t.Errorf("env first: %q, %v", pw, err)
	}
	if pw, err := g(nil, file).password("a@b"); err != nil || pw != "from-file" {
		t.Errorf("file: %q, %v", pw, err)
	}
	// stdin is not a terminal: no prompt, a clear error.
	_, err := g(nil, "").password("a@b")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), envPassword) || !strings.Contains(err.Error(), "--password-file") {
		t.Errorf("no password: %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	r := runXmppbg(t.Context(), map[string]string{envPassword: "pw"},
		"send", "--jid", "alice@localhost", "--addr", addr, "--json", "bob@localhost", "hi")
	if r.code != exitConn {
		t.Fatalf("exit %d, want %d; stderr %q", r.code, exitConn, r.stderr)
	}
	if !strings.Contains(r.stderr, "xmppbg: cannot connect to "+addr) {
		t.Errorf("stderr = %q", r.stderr)
	}
	events := jsonLines(t, r.stdout)
	errs := eventsNamed(events, "error")
	if len(errs) != 1 || errs[0]["code"] != float64(exitConn) {
		t.Errorf("stdout = %q", r.stdout)
	}
	if states := eventsNamed(events, "state"); len(states) != 2 || states[0]["state"] != "connecting" || states[1]["state"] != "offline" {
		t.Errorf("states = %v", states)
	}
}
