//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/internal/toxic"
)

// tmuxPane runs shell commands in tmux panes of their own, for the tests
// that need a real terminal.
type tmuxPane struct {
	t    *testing.T
	tmux string
	sock string
	dir  string
}

func newTmux(t *testing.T) *tmuxPane {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is required for the terminal tests under CI=true: install tmux (scripts/setup.sh)")
		}
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	p := &tmuxPane{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock"), dir: dir}
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", p.sock, "kill-server").Run() })
	return p
}

func (p *tmuxPane) run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.tmux, append([]string{"-S", p.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir, "TERM=xterm-256color", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// start runs the shell command line in a new session called name.
func (p *tmuxPane) start(name, line string) {
	p.run("new-session", "-d", "-s", name, "-x", "160", "-y", "40", line)
}

// wait waits until the screen of session name holds want, and returns it.
func (p *tmuxPane) wait(name, want string, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := p.run("capture-pane", "-p", "-J", "-t", name)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %q after %v; screen:\n%s", name, want, within, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPasswordPromptOnTheTerminal: with the text on a pipe, send still asks
// for the password on the terminal; Ctrl-C there gives up at once (exit 2)
// and leaves the terminal's echo on.
func TestPasswordPromptOnTheTerminal(t *testing.T) {
	const pw = "prompted password"
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": pw, "bob": pw}})
	bin := buildBinary(t)
	tm := newTmux(t)
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	send := fmt.Sprintf("echo 'from a pipe' | %s send --jid %s --addr %s --ca-file %s %s; echo EXIT=$?; if stty -a | grep -q -- ' -echo '; then echo ECHO=off; else echo ECHO=on; fi; sleep 60",
		chatShellQuote(bin), alice, srv.Addr(), chatShellQuote(srv.CAFile()), bob)

	tm.start("typed", send)
	tm.wait("typed", "Password for "+alice+": ", 20*time.Second)
	tm.run("send-keys", "-t", "typed", "-l", pw)
	tm.run("send-keys", "-t", "typed", "Enter")
	s := tm.wait("typed", "ECHO=", 20*time.Second)
	if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "acknowledged by the server") || strings.Contains(s, pw) {
		t.Errorf("typed password:\n%s", s)
	}

	tm.start("cancelled", send)
	tm.wait("cancelled", "Password for "+alice+": ", 20*time.Second)
	start := time.Now()
	tm.run("send-keys", "-t", "cancelled", "C-c")
	s = tm.wait("cancelled", "ECHO=", 10*time.Second)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Ctrl-C at the prompt took %v", took)
	}
	if !strings.Contains(s, "EXIT=2") || !strings.Contains(s, "interrupted at the prompt") {
		t.Errorf("Ctrl-C at the prompt:\n%s", s)
	}
	if !strings.Contains(s, "ECHO=on") {
		t.Errorf("the terminal's echo is off after Ctrl-C:\n%s", s)
	}
}

// TestChatSecondInterrupt: in the interactive chat, leaving waits for the
// server (here a black hole, with --quit-timeout 60s); a Ctrl-C then ends it
// at once: the chat puts the terminal back in cooked mode while it leaves,
// so the key is a signal again.
func TestChatSecondInterrupt(t *testing.T) {
	const pw = "interrupt password"
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": pw, "bob": pw}})
	bin := buildBinary(t)
	tm := newTmux(t)
	proxy, err := toxic.Start(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bob := "bob@" + srv.Domain()
	tm.start("chat", fmt.Sprintf("%s chat --jid alice@%s --addr %s --ca-file %s --password-file %s --to %s --quit-timeout 60s; echo EXIT=$?; sleep 60",
		chatShellQuote(bin), srv.Domain(), proxy.Addr(), chatShellQuote(srv.CAFile()), chatShellQuote(pwFile), bob))
	tm.wait("chat", "[online]", 20*time.Second)
	if err := proxy.Blackhole(); err != nil {
		t.Fatal(err)
	}
	tm.run("send-keys", "-t", "chat", "-l", "into the black hole")
	tm.run("send-keys", "-t", "chat", "Enter")
	tm.wait("chat", "sent to "+bob, 10*time.Second)
	tm.run("send-keys", "-t", "chat", "C-d") // leave: waits for the acknowledgement
	tm.wait("chat", "-- leaving", 10*time.Second)
	start := time.Now()
	tm.run("send-keys", "-t", "chat", "C-c")
	s := tm.wait("chat", "EXIT=", 20*time.Second)
	if took := time.Since(start); took > forceStopWait+leaveSlack+time.Second {
		t.Errorf("Ctrl-C while leaving took %v to end the chat", took)
	}
	if !strings.Contains(s, "EXIT=6") || !strings.Contains(s, "not acknowledged") {
		t.Errorf("after Ctrl-C while leaving:\n%s", s)
	}
}
