package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

// chatProcess is "xmppbg chat --json" as a real process.
type chatProcess struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	evs   []map[string]any
	wake  chan struct{}
	done  chan struct{}
}

func startChatProcess(t *testing.T, bin string, env []string, args ...string) *chatProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"chat", "--json"}, args...)...)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &chatProcess{t: t, cmd: cmd, stdin: stdin, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("not JSON on stdout: %q", sc.Text())
				continue
			}
			p.mu.Lock()
			p.evs = append(p.evs, ev)
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

// peer logs jid in, in-process, for the test, counting the bodies it
// receives (read them under the mutex).
func peer(t *testing.T, srv interface {
	Domain() string
	CAFile() string
	Addr() string
}, jid, pw string) (*session.Session, *sync.Mutex, map[string]int) {
	t.Helper()
	tlsCfg, _ := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
	mu := new(sync.Mutex)
	got := map[string]int{}
	s, err := session.Connect(context.Background(), session.Config{
		JID: jid, Password: pw, Addr: srv.Addr(), TLS: tlsCfg,
		OnEvent: func(e session.Event) {
			if r, ok := e.(session.Received); ok {
				mu.Lock()
				got[r.Message.Body]++
				mu.Unlock()
			}
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Abort)
	return s, mu, got
}

// buildBinary builds xmppbg for tests that run it as a real process.
func buildBinary(t *testing.T) string {
	t.Helper()
	return integration.BuildXmppbg(t, false)
}

func (p *chatProcess) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor returns once match is true for an event. match sees each event
// once, in order, so it may count (a match that counts would otherwise
// count an event again at each wake, and return early).
func (p *chatProcess) waitFor(desc string, match func(map[string]any) bool) {
	p.t.Helper()
	deadline := time.After(20 * time.Second)
	next, ended := 0, false
	for {
		p.mu.Lock()
		for ; next < len(p.evs); next++ {
			if match(p.evs[next]) {
				p.mu.Unlock()
				return
			}
		}
		evs := p.evs
		p.mu.Unlock()
		if ended {
			// Every event was read before done was closed, and seen.
			p.t.Fatalf("chat ended before %s: %v", desc, evs)
		}
		select {
		case <-p.wake:
		case <-p.done:
			ended = true
		case <-deadline:
			p.t.Fatalf("no %s after 20s: %v", desc, evs)
		}
	}
}

func (p *chatProcess) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.evs {
		if e["event"] == "message" {
			out = append(out, e["body"].(string))
		}
	}
	return out
}

// The app is killed by the OS while suspended (SIGKILL): a new process with
// the same --state-file resumes the same stream, and every message both ways
// arrives exactly once.
func TestProcessDeathWhileSuspended(t *testing.T) {
	const pw = "process death password"
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": pw, "bob": pw}})
	bin := buildBinary(t)
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	stateFile := filepath.Join(t.TempDir(), "alice.state")
	env := append(os.Environ(), "XMPPBG_PASSWORD="+pw)
	args := []string{"--jid", alice, "--addr", srv.Addr(), "--ca-file", srv.CAFile(), "--state-file", stateFile, "--bg-policy", "hold", "--to", bob}

	// bob, in-process.
	bobSession, bobMu, bobGot := peer(t, srv, bob, pw)
	bobSend := func(body string) {
		t.Helper()
		if _, err := bobSession.SendMessage(context.Background(), session.Message{To: alice, Body: body}); err != nil {
			t.Fatal(err)
		}
	}

	first := startChatProcess(t, bin, env, args...)
	first.waitFor("online", func(e map[string]any) bool { return e["event"] == "state" && e["state"] == "online" })
	first.send("a1")
	first.send("a2")
	bobSend("b1")
	first.waitFor("b1", func(e map[string]any) bool { return e["event"] == "message" && e["body"] == "b1" })
	first.send("a3")
	first.send("/bg 200ms")
	first.waitFor("suspended", func(e map[string]any) bool { return e["event"] == "state" && e["state"] == "suspended" })
	// The OS kills the suspended app. The peer keeps writing.
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	_ = first.cmd.Wait()
	bobSend("b2")
	bobSend("b3")

	second := startChatProcess(t, bin, env, args...)
	second.waitFor("resumed", func(e map[string]any) bool { return e["event"] == "resumed" })
	second.send("a4")
	for _, b := range []string{"b2", "b3"} {
		second.waitFor(b, func(e map[string]any) bool { return e["event"] == "message" && e["body"] == b })
	}
	second.waitFor("a4 acked", func(e map[string]any) bool { return e["event"] == "acked" })
	_ = second.stdin.Close()
	<-second.done
	if err := second.cmd.Wait(); err != nil {
		t.Errorf("second chat: %v", err)
	}

	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	got := map[string]int{}
	for _, b := range append(first.received(), second.received()...) {
		got[b]++
	}
	for _, b := range []string{"b1", "b2", "b3"} {
		if got[b] != 1 {
			t.Errorf("alice got %q %d times, want once", b, got[b])
		}
	}
	bobMu.Lock()
	defer bobMu.Unlock()
	for _, a := range []string{"a1", "a2", "a3", "a4"} {
		if bobGot[a] != 1 {
			t.Errorf("bob got %q %d times, want once", a, bobGot[a])
		}
	}
	if len(bobGot) != 4 || len(got) != 3 {
		t.Errorf("unexpected messages: bob %v, alice %v", bobGot, got)
	}
}

// Messages typed while the server cannot be reached survive the process: the
// chat is killed (SIGKILL) with them in its offline queue, and a new process
// with the same --state-file sends them once the server is back, each
// exactly once (issue 11, item 7).
func TestProcessDeathWithOutbox(t *testing.T) {
	const pw = "outbox password"
	srv := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": pw, "bob": pw}})
	bin := buildBinary(t)
	proxy, err := faultproxy.Start(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	if err := proxy.Down(); err != nil {
		t.Fatal(err)
	}
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	stateFile := filepath.Join(t.TempDir(), "alice.state")
	env := append(os.Environ(), "XMPPBG_PASSWORD="+pw)
	args := []string{"--jid", alice, "--addr", proxy.Addr(), "--ca-file", srv.CAFile(), "--state-file", stateFile, "--to", bob}

	_, bobMu, bobGot := peer(t, srv, bob, pw)

	first := startChatProcess(t, bin, env, args...)
	for _, body := range []string{"offline 1", "offline 2"} {
		first.send(body)
	}
	// "sent" with queued: true comes once the message is in the state file.
	queued := 0
	first.waitFor("both messages queued", func(e map[string]any) bool {
		if e["event"] == "sent" && e["queued"] == true {
			queued++
		}
		return queued == 2
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	_ = first.cmd.Wait()

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	second := startChatProcess(t, bin, env, args...)
	second.waitFor("acked", func(e map[string]any) bool { return e["event"] == "acked" })
	deadline := time.Now().Add(20 * time.Second)
	for {
		bobMu.Lock()
		n := len(bobGot)
		bobMu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = second.stdin.Close()
	<-second.done
	_ = second.cmd.Wait()
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	bobMu.Lock()
	defer bobMu.Unlock()
	if bobGot["offline 1"] != 1 || bobGot["offline 2"] != 1 || len(bobGot) != 2 {
		t.Errorf("bob got %v, want each offline message once", bobGot)
	}
}
