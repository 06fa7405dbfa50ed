package main

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/internal/toxic"
)

// leaveSlack is what a loaded machine may add to a bound of the chat's: a
// process start, a login, scheduling. The bounds checked here are the
// chat's own (2s); what they replaced took 4.2s, 10s or 30s.
const leaveSlack = 1500 * time.Millisecond

// exited waits for the chat process to end within limit (from start) and
// returns its exit code.
func (p *chatProcess) exited(t *testing.T, start time.Time, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit + 20*time.Second):
		t.Fatalf("the chat did not end; events %v", p.evs)
	}
	err := p.cmd.Wait()
	if took := time.Since(start); took > limit {
		t.Errorf("the chat took %v to end, want at most %v", took.Round(time.Millisecond), limit)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestChatLeaveBounds runs chat as a real process and checks how long
// leaving takes when the server does not answer: Ctrl-C (SIGINT) with a
// message unacknowledged, the end of input while the server cannot be
// reached, a signal while leaving, and /quit or SIGINT while the login to a
// silent server is under way (whose dial and login --login-timeout bounds).
func TestChatLeaveBounds(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals")
	}
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": integration.Password, "bob": integration.Password}})
	bin := buildBinary(t)
	env := append(os.Environ(), envPassword+"="+integration.Password)
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	args := func(addr string, more ...string) []string {
		return append([]string{"--jid", alice, "--addr", addr, "--ca-file", srv.CAFile(), "--to", bob}, more...)
	}
	silent := listener(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	isState := func(s string) func(map[string]any) bool {
		return func(e map[string]any) bool { return e["event"] == "state" && e["state"] == s }
	}
	isEvent := func(name string) func(map[string]any) bool {
		return func(e map[string]any) bool { return e["event"] == name }
	}

	t.Run("InterruptWithUnacked", func(t *testing.T) {
		t.Parallel()
		proxy, err := toxic.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		p := startChatProcess(t, bin, env, args(proxy.Addr())...)
		p.waitFor("online", isState("online"))
		if err := proxy.Blackhole(); err != nil {
			t.Fatal(err)
		}
		p.send("into the black hole")
		p.waitFor("sent", func(e map[string]any) bool { return e["event"] == "sent" && e["queued"] == nil })
		start := time.Now()
		p.cmd.Process.Signal(os.Interrupt)
		if code := p.exited(t, start, interruptTimeout+leaveSlack); code != exitTimeout {
			t.Errorf("exit %d, want %d (a message unacknowledged)", code, exitTimeout)
		}
	})

	t.Run("EOFWhileUnreachable", func(t *testing.T) {
		t.Parallel()
		proxy, err := faultproxy.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		p := startChatProcess(t, bin, env, args(proxy.Addr())...)
		p.waitFor("online", isState("online"))
		proxy.Down()
		proxy.ResetPeer()
		p.waitFor("a failed login", isEvent("retry"))
		start := time.Now()
		p.stdin.Close() // Ctrl-D
		if code := p.exited(t, start, leaveWaitOffline+leaveSlack); code != exitOK {
			t.Errorf("exit %d, want 0 (nothing was pending)", code)
		}
	})

	t.Run("SignalWhileLeaving", func(t *testing.T) {
		t.Parallel()
		proxy, err := toxic.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		p := startChatProcess(t, bin, env, args(proxy.Addr(), "--quit-timeout", "60s")...)
		p.waitFor("online", isState("online"))
		proxy.Blackhole()
		p.send("into the black hole")
		p.waitFor("sent", func(e map[string]any) bool { return e["event"] == "sent" && e["queued"] == nil })
		p.stdin.Close()                    // leaving: it would wait --quit-timeout for the ack
		time.Sleep(300 * time.Millisecond) // let it start leaving (either way the bound holds)
		start := time.Now()
		p.cmd.Process.Signal(os.Interrupt)
		if code := p.exited(t, start, forceStopWait+leaveSlack); code != exitTimeout {
			t.Errorf("exit %d, want %d", code, exitTimeout)
		}
	})

	t.Run("QuitDuringSilentLogin", func(t *testing.T) {
		t.Parallel()
		p := startChatProcess(t, bin, env, args(silent)...)
		p.waitFor("connecting", isState("connecting"))
		start := time.Now()
		p.send("/quit")
		p.exited(t, start, leaveWaitOffline+leaveSlack)
	})

	t.Run("InterruptDuringSilentLogin", func(t *testing.T) {
		t.Parallel()
		p := startChatProcess(t, bin, env, args(silent)...)
		p.waitFor("connecting", isState("connecting"))
		start := time.Now()
		p.cmd.Process.Signal(os.Interrupt)
		p.exited(t, start, interruptTimeout+leaveSlack)
	})

	t.Run("LoginTimeoutBoundsTheDial", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		p := startChatProcess(t, bin, env, args(silent, "--login-timeout", "1s")...)
		p.waitFor("a failed login", isEvent("retry"))
		if took := time.Since(start); took > time.Second+leaveSlack {
			t.Errorf("the first login gave up after %v, want about --login-timeout 1s", took)
		}
		p.stdin.Close()
		<-p.done
	})
}
