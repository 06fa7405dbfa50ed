//go:build unix

package bench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/bench"
	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// Faults nobody announces (issue 12), measured on the real "xmppbg chat
// --json" process with default flags but the probe timeout, through an
// external faultproxy: the process stopped (SIGSTOP) while the live
// connection is black-holed, then continued (SIGCONT); a message typed into
// a connection that died silently; an external RST while online. Times are
// taken when the test reads the process's JSON events (the pipe adds
// microseconds).

// chatEvent is one JSON event of the chat process and when it was read.
type chatEvent struct {
	at time.Time
	m  map[string]any
}

// benchChat is a running "xmppbg chat --json".
type benchChat struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	evs   []chatEvent
	wake  chan struct{}
	done  chan struct{}
}

func startBenchChat(tb testing.TB, bin string, args ...string) *benchChat {
	tb.Helper()
	cmd := exec.Command(bin, append([]string{"chat", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "XMPPBG_PASSWORD="+pw)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &benchChat{cmd: cmd, stdin: stdin, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			c.mu.Lock()
			c.evs = append(c.evs, chatEvent{time.Now(), m})
			c.mu.Unlock()
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = stdin.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	return c
}

// first returns the first event read at or after since that matches,
// waiting up to d.
func (c *benchChat) first(since time.Time, d time.Duration, match func(map[string]any) bool) (time.Time, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, e := range c.evs {
			if !e.at.Before(since) && match(e.m) {
				c.mu.Unlock()
				return e.at, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-c.done:
			return time.Time{}, false
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// trim forgets the events read before t.
func (c *benchChat) trim(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(c.evs) && c.evs[i].at.Before(t) {
		i++
	}
	c.evs = c.evs[i:]
}

func (c *benchChat) send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		tb.Fatal(err)
	}
}

func isEvent(name string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["event"] == name }
}

func isState(state string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["event"] == "state" && m["state"] == state }
}

// buildChat builds xmppbg for the measurements on the real process.
func buildChat(tb testing.TB) string {
	tb.Helper()
	return integration.BuildXmppbg(tb, false)
}

// unannouncedRig is the server, a proxy in front of it for alice (the
// chat process) and bob in-process, who records when each body arrived.
type unannouncedRig struct {
	srv   *prosody.Server
	proxy *faultproxy.Proxy
	bob   *session.Session
	mu    sync.Mutex
	got   map[string]time.Time
	wake  chan struct{}
}

func newUnannouncedRig(tb testing.TB) *unannouncedRig {
	tb.Helper()
	r := &unannouncedRig{srv: startServer(tb, prosody.Options{}, "alice", "bob"), got: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	p, err := faultproxy.Start(r.srv.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	r.proxy = p
	cfg := sessionConfig(tb, r.srv, "bob", r.srv.Addr())
	cfg.OnEvent = func(e session.Event) {
		if m, ok := e.(session.Received); ok {
			r.mu.Lock()
			if _, seen := r.got[m.Message.Body]; !seen {
				r.got[m.Message.Body] = time.Now()
			}
			r.mu.Unlock()
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}
	bob, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(bob.Abort)
	r.bob = bob
	return r
}

// chat starts alice's chat process through the proxy with probe timeout
// probe, and waits until it is online.
func (r *unannouncedRig) chat(tb testing.TB, bin string, probe time.Duration) *benchChat {
	tb.Helper()
	c := startBenchChat(tb, bin, "--config", os.DevNull, "--jid", "alice@"+r.srv.Domain(), "--addr", r.proxy.Addr(),
		"--ca-file", r.srv.CAFile(), "--to", "bob@"+r.srv.Domain(), "--probe-timeout", probe.String())
	if _, ok := c.first(time.Time{}, 20*time.Second, isState("online")); !ok {
		tb.Fatal("the chat never came online")
	}
	return c
}

// gotAt waits up to d for bob to receive body and returns when he did.
func (r *unannouncedRig) gotAt(body string, d time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		at, ok := r.got[body]
		r.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-r.wake:
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// wakeSample is one SIGCONT cycle: from SIGCONT to the "woke" event, to
// the connection found dead, and to online again.
type wakeSample struct{ notice, dead, online time.Duration }

// measureWake runs n cycles of SIGSTOP, black hole, SIGCONT on c.
func measureWake(tb testing.TB, r *unannouncedRig, c *benchChat, probe time.Duration, n int) (samples []wakeSample, failures int) {
	tb.Helper()
	pid := c.cmd.Process.Pid
	for i := range n {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			tb.Fatal(err)
		}
		if err := r.proxy.BlackholeLive(); err != nil {
			tb.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // stopped
		t0 := time.Now()
		c.trim(t0)
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			tb.Fatal(err)
		}
		bound := probe + 15*time.Second
		tWoke, ok1 := c.first(t0, bound, isEvent("woke"))
		tDead, ok2 := c.first(t0, bound, isEvent("dead"))
		tOn, ok3 := c.first(t0, bound, isState("online"))
		if !ok1 || !ok2 || !ok3 {
			failures++
			tb.Errorf("cycle %d (probe %v): woke %v, dead %v, online %v", i, probe, ok1, ok2, ok3)
			if _, ok := c.first(t0, 30*time.Second, isState("online")); !ok {
				tb.Fatal("not online again")
			}
			continue
		}
		samples = append(samples, wakeSample{tWoke.Sub(t0), tDead.Sub(t0), tOn.Sub(t0)})
	}
	return samples, failures
}

// measureDeadSend types a message into a connection black-holed just
// before, n times, and returns how long each took to reach bob.
func measureDeadSend(tb testing.TB, r *unannouncedRig, c *benchChat, n int) (took []time.Duration, failures int) {
	tb.Helper()
	for i := range n {
		if _, ok := c.first(time.Now().Add(-time.Hour), 30*time.Second, isState("online")); !ok {
			tb.Fatal("not online")
		}
		if err := r.proxy.BlackholeLive(); err != nil {
			tb.Fatal(err)
		}
		body := fmt.Sprintf("into the void %d", i)
		t0 := time.Now()
		c.trim(t0)
		c.send(tb, body)
		at, ok := r.gotAt(body, 60*time.Second)
		if !ok {
			failures++
			tb.Errorf("%q never reached bob", body)
			continue
		}
		took = append(took, at.Sub(t0))
		// Online again before the next cycle.
		if _, ok := c.first(t0, 30*time.Second, isState("online")); !ok {
			tb.Fatal("not online again")
		}
	}
	return took, failures
}

// measureRST resets the live connection n times while online and returns
// how long the chat took to be online again.
func measureRST(tb testing.TB, r *unannouncedRig, c *benchChat, n int) (took []time.Duration, failures int) {
	tb.Helper()
	for range n {
		t0 := time.Now()
		c.trim(t0)
		if err := r.proxy.ResetPeer(); err != nil {
			tb.Fatal(err)
		}
		if _, ok := c.first(t0, 20*time.Second, isEvent("dead")); !ok {
			failures++
			tb.Error("the reset went unnoticed")
			continue
		}
		tOn, ok := c.first(t0, 20*time.Second, isState("online"))
		if !ok {
			tb.Fatal("not online again after a reset")
		}
		took = append(took, tOn.Sub(t0))
		time.Sleep(100 * time.Millisecond) // settle: the server sees the new connection's presence
	}
	return took, failures
}

// BenchmarkWake: one op is one SIGSTOP, black hole, SIGCONT and repair of
// the real chat process, with the default probe timeout.
//
//	go test -run '^$' -bench Wake -benchtime 30x ./internal/bench
func BenchmarkWake(b *testing.B) {
	bin := buildChat(b)
	r := newUnannouncedRig(b)
	c := r.chat(b, bin, reconnect.DefaultProbeTimeout)
	b.ResetTimer()
	samples, _ := measureWake(b, r, c, reconnect.DefaultProbeTimeout, b.N)
	var notice, online []time.Duration
	for _, s := range samples {
		notice, online = append(notice, s.notice), append(online, s.online)
	}
	ns, ons := bench.Summarize(notice), bench.Summarize(online)
	b.ReportMetric(float64(ns.Median)/1e6, "notice-ms/median")
	b.ReportMetric(float64(ons.Median)/1e6, "online-ms/median")
	b.ReportMetric(float64(ons.P99)/1e6, "online-ms/p99")
	b.ReportMetric(0, "ns/op")
}

func reportUnannounced(t *testing.T) {
	bin := buildChat(t)
	r := newUnannouncedRig(t)
	n := envInt("XMPPBG_BENCH_WAKE_CYCLES", 30)
	nDead := envInt("XMPPBG_BENCH_DEADSEND_CYCLES", 10)
	nRST := envInt("XMPPBG_BENCH_RST_CYCLES", 30)

	reportf("### Unannounced faults, on the real `xmppbg chat --json` process\n\n")
	reportf("Through an external faultproxy (`BlackholeLive`: the live connection silently dropped both ways, new ones pass; `ResetPeer`: a TCP RST); default flags but `--probe-timeout`; load %s at start.\n\n", loadAvg())
	reportf("**After SIGCONT, the path black-holed while the process was stopped** (%d cycles per row; from SIGCONT to the `woke` event, to `dead`, to `online`):\n\n", n)
	reportf("| probe timeout | woke median | woke p99 | dead median | dead p99 | online median | online p99 | online max | target (online ≤ probe + 3 s) | met |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, probe := range []time.Duration{time.Second, reconnect.DefaultProbeTimeout} {
		c := r.chat(t, bin, probe)
		samples, failures := measureWake(t, r, c, probe, n)
		var notice, dead, online []time.Duration
		for _, s := range samples {
			notice, dead, online = append(notice, s.notice), append(dead, s.dead), append(online, s.online)
		}
		ns, ds, ons := bench.Summarize(notice), bench.Summarize(dead), bench.Summarize(online)
		target := probe + 3*time.Second
		met := "yes"
		if ons.Max > target || failures > 0 {
			met = fmt.Sprintf("no (%d failed)", failures)
		}
		reportf("| %v | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | ≤ %v | %s |\n", probe,
			bench.Ms(ns.Median), bench.Ms(ns.P99), bench.Ms(ds.Median), bench.Ms(ds.P99),
			bench.Ms(ons.Median), bench.Ms(ons.P99), bench.Ms(ons.Max), target, met)
		_ = c.stdin.Close()
		<-c.done
	}

	c := r.chat(t, bin, reconnect.DefaultProbeTimeout)
	took, failures := measureDeadSend(t, r, c, nDead)
	s := bench.Summarize(took)
	met := "yes"
	if s.Max > 20*time.Second || failures > 0 {
		met = fmt.Sprintf("no (%d failed)", failures)
	}
	reportf("\n**A message typed into a connection that died silently** (black-holed just before; %d cycles; from typing it to bob having it): median %s ms, p99 %s ms, max %s ms; target ≤ 20 s: %s.\n\n", nDead,
		bench.Ms(s.Median), bench.Ms(s.P99), bench.Ms(s.Max), met)

	took, failures = measureRST(t, r, c, nRST)
	s = bench.Summarize(took)
	reportf("**An external RST while online** (%d cycles; from the reset to `online`): median %s ms, p99 %s ms, max %s ms, %d unnoticed.\n\n", nRST,
		bench.Ms(s.Median), bench.Ms(s.P99), bench.Ms(s.Max), failures)
}
