package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

func TestParseConfig(t *testing.T) {
	in := `# account
jid = alice@example.org
ca-file = "/etc/ssl/ca.pem"

bg-policy=hold
`
	got, err := parseConfig("cfg", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []configEntry{{"jid", "alice@example.org", 2}, {"ca-file", "/etc/ssl/ca.pem", 3}, {"bg-policy", "hold", 5}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"jid alice", "cfg:1: want key = value"},
		{"\n = x", "cfg:2: empty key"},
		{"password = hunter2", "cfg:1: passwords are not kept"},
		{"jid = a\njid = b", "cfg:2: jid set twice (first on line 1)"},
		{"my key = x", "cfg:1: invalid key"},
	} {
		_, err := parseConfig("cfg", strings.NewReader(tc.in))
		var ce *configError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.msg) {
			t.Errorf("parseConfig(%q) = %v, want %q", tc.in, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("jid = a@b\n# c\naddr = 'x:1'\n")
	f.Add("=\n==\n'\"")
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := parseConfig("f", strings.NewReader(in))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Key == "" || e.Key == "password" || strings.ContainsAny(e.Key, " \t=") {
				t.Fatalf("accepted key %q", e.Key)
			}
		}
	})
}

// Settings come from flags, then the environment, then the file.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	os.WriteFile(path, []byte("jid = file@example.org\naddr = file.example.org:5222\nca-file = /file/ca.pem\ncount = 7\n"), 0o600)
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		jid, addr string
	}{
		{"file only", nil, nil, "file@example.org", "file.example.org:5222"},
		{"flag wins", []string{"--addr", "flag.example.org:1"}, nil, "file@example.org", "flag.example.org:1"},
		{"env wins over file", nil, map[string]string{envJID: "env@example.org"}, "", "file.example.org:5222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *listenOptions
			g := &globalOptions{IO: &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
				Getenv: func(k string) string {
					if k == envConfig {
						return path
					}
					return tc.env[k]
				}}
			root := newCmdRoot(g)
			for _, c := range root.Commands() {
				if c.Name() == "listen" {
					root.RemoveCommand(c)
				}
			}
			root.AddCommand(newCmdListen(g, func(ctx context.Context, o *listenOptions) error { got = o; return nil }))
			root.SetArgs(append([]string{"listen"}, tc.args...))
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if g.JID != tc.jid || g.Addr != tc.addr || g.CAFile != "/file/ca.pem" || got.Count != 7 {
				t.Errorf("jid %q addr %q ca %q count %d", g.JID, g.Addr, g.CAFile, got.Count)
			}
		})
	}
	t.Run("errors name the line", func(t *testing.T) {
		bad := filepath.Join(dir, "bad")
		os.WriteFile(bad, []byte("jid = a@b\nbogus-setting = 1\n"), 0o600)
		var stderr bytes.Buffer
		code := runContext(context.Background(), []string{"listen", "--config", bad}, &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &stderr}, func(string) string { return "" })
		if code != exitUsage || !strings.Contains(stderr.String(), bad+":2: unknown setting \"bogus-setting\"") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("explicit file must exist", func(t *testing.T) {
		code := runContext(context.Background(), []string{"version", "--config", filepath.Join(dir, "none")}, &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(string) string { return "" })
		if code != exitUsage {
			t.Fatalf("exit %d", code)
		}
	})
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		code := runContext(context.Background(), []string{"completion", shell}, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}}, func(string) string { return "" })
		if code != 0 || !strings.Contains(out.String(), "xmppbg") {
			t.Errorf("completion %s: exit %d, %d bytes", shell, code, out.Len())
		}
	}
}

// "xmppbg server" runs a real Prosody, prints how to connect, and leaves
// nothing behind.
// xmppbg server runs either Prosody; a client logs in with what it prints
// (with Prosody 13 over direct TLS, as printed).
func TestServerCommand(t *testing.T) {
	for _, version := range []string{prosody.Version012, prosody.Version13} {
		t.Run(version, func(t *testing.T) { testServerCommand(t, version) })
	}
}

func testServerCommand(t *testing.T, version string) {
	t.Setenv(integration.EnvServer, "")
	integration.StartProsody(t, prosody.Options{Version: version}) // skips (or fails under CI) when missing
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	g := &globalOptions{IO: &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}}, Getenv: func(string) string { return "" }}
	var srv *prosody.Server
	var files map[string]string
	ready := make(chan struct{})
	root := newCmdRoot(g)
	for _, c := range root.Commands() {
		if c.Name() == "server" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newCmdServer(g, func(ctx context.Context, o *serverOptions) error {
		o.ready = func(s *prosody.Server, f map[string]string) { srv, files = s, f; close(ready) }
		return runServer(ctx, o)
	}))
	root.SetArgs([]string{"server", "--json", "--hibernation", "5s", "--prosody", version})
	errc := make(chan error, 1)
	go func() { errc <- root.ExecuteContext(ctx) }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("server exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("password file %s: %v %v", p, fi.Mode(), err)
		}
	}
	var ev map[string]any
	if err := json.Unmarshal(bytes.SplitN(out.Bytes(), []byte("\n"), 2)[0], &ev); err != nil || ev["event"] != "server" || ev["addr"] != srv.Addr() ||
		ev["version"] != version {
		t.Fatalf("first line %q: %v", out.String(), err)
	}
	args := []string{"send", "--jid", "alice@" + srv.Domain(), "--addr", srv.Addr(), "--ca-file", srv.CAFile(), "--password-file", files["alice"], "bob@" + srv.Domain(), "hi"}
	if version == prosody.Version13 {
		if ev["direct_tls_addr"] != srv.DirectTLSAddr() || srv.DirectTLSAddr() == "" {
			t.Errorf("no direct TLS address printed: %q", out.String())
		}
		args = append(args[:3], append([]string{"--direct-tls", "--addr", srv.DirectTLSAddr()}, args[5:]...)...)
	}
	if strings.Contains(out.String(), readFirstLine(t, files["alice"])) {
		t.Error("a password was printed")
	}
	// A client can log in with what was printed.
	var sendOut bytes.Buffer
	code := runContext(context.Background(), args,
		&IOStreams{In: strings.NewReader(""), Out: &sendOut, ErrOut: &bytes.Buffer{}}, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("send exit %d: %s", code, sendOut.String())
	}
	pid, dir := srv.PID(), srv.Dir()
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Signal 0 tells whether the process exists (where there are
	// signals; Windows answers an error either way).
	if p, err := os.FindProcess(pid); err == nil {
		if p.Signal(syscall.Signal(0)) == nil {
			t.Errorf("prosody (pid %d) still running", pid)
		}
		_ = p.Release()
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("server directory %s left behind", dir)
	}
}

func readFirstLine(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// --direct-tls and --no-sasl2 reach the session's config; without --addr
// the session finds the direct TLS port through DNS SRV (_xmpps-client).
func TestDirectTLSFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantAddr string
		noSASL2  bool
	}{
		{[]string{"--direct-tls"}, "", false},
		{[]string{"--direct-tls", "--addr", "127.0.0.1:5999"}, "127.0.0.1:5999", false},
		{[]string{"--direct-tls", "--no-sasl2"}, "", true},
		{nil, "", false},
	} {
		g := &globalOptions{IO: &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
			Getenv: func(k string) string {
				if k == envPassword {
					return "pw"
				}
				return ""
			}}
		var cfg sessionConfigResult
		root := newCmdRoot(g)
		root.SetArgs(append([]string{"send", "--jid", "alice@example.org"}, append(tc.args, "bob@example.org", "hi")...))
		for _, c := range root.Commands() {
			if c.Name() == "send" {
				c.RunE = func(*cobra.Command, []string) error {
					cfg.cfg, cfg.err = g.sessionConfig()
					return nil
				}
			}
		}
		if err := root.Execute(); err != nil || cfg.err != nil {
			t.Fatalf("%v: %v, %v", tc.args, err, cfg.err)
		}
		wantDirect := len(tc.args) > 0
		if cfg.cfg.Addr != tc.wantAddr || cfg.cfg.DirectTLS != wantDirect || cfg.cfg.NoSASL2 != tc.noSASL2 {
			t.Errorf("%v: Addr %q DirectTLS %v NoSASL2 %v, want %q %v %v", tc.args, cfg.cfg.Addr, cfg.cfg.DirectTLS, cfg.cfg.NoSASL2, tc.wantAddr, wantDirect, tc.noSASL2)
		}
	}
}

type sessionConfigResult struct {
	cfg session.Config
	err error
}
