//go:build unix

package soak_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	osproc "github.com/xmppbg/xmppbg/internal/proc"
	"github.com/xmppbg/xmppbg/session"
)

// proc is the other account (bob): the real "xmppbg chat --json" process,
// with a --state-file, reaching the server through an external proxy
// (rig.proxy) that the process knows only as its --addr. The test types
// numbered lines on its stdin and reads its JSON events; it kills the
// process with SIGKILL at random moments and starts another with the same
// state file, and freezes it with SIGSTOP.
//
// A line typed becomes Sent in the ledger when the process reports it
// ("sent", which comes once the message is in the state file); lines typed
// and not reported when the process is killed are in doubt.
type proc struct {
	r                    *rig
	name, jid, peerJID   string
	bin, dir, stateFile  string
	env                  []string
	mu                   sync.Mutex
	cmd                  *exec.Cmd
	stdin                io.WriteCloser
	done                 chan struct{} // closed when the current process's stdout ends
	gen                  int           // incarnation
	ev                   []pev         // events of the current cycle
	wake                 chan struct{}
	fifo                 []int // lines typed, not yet reported sent or failed
	next                 int
	paused               bool   // the user types nothing (the app is suspended, the process dead)
	state                string // the last state the current process reported
	status               map[string]any
	starts, kills, stops int
	resumed, fresh, dead int
	policies             map[string]int
	sentIDs              map[string]bool // ids of the messages reported sent
	accepted             map[int]bool    // numbers of the lines reported sent or found in a state file
	newIDs               int             // lines reported sent a second time under a new id
	fromState            int             // messages found accepted in the state file of a killed process
	// last is the last message the current process printed; window, the
	// last one the previous process printed before it was killed.
	last   lastMsg
	window *lastMsg
}

// lastMsg is a message a process printed.
type lastMsg struct{ from, id, body string }

// pev is one JSON event of a process.
type pev struct {
	at  time.Time
	gen int
	ev  map[string]any
}

func (p *proc) str(e map[string]any, k string) string { s, _ := e[k].(string); return s }

// start starts a new process on the state file, with a random background
// policy, and waits until it is online.
func (p *proc) start() error {
	t0 := time.Now()
	if err := p.startNoWait(); err != nil {
		return err
	}
	return p.waitState(t0, "online")
}

// startNoWait starts a new process on the state file, with a random
// background policy.
func (p *proc) startNoWait() error {
	p.mu.Lock()
	p.gen++
	gen := p.gen
	policy := []string{"hold", "detach", "close"}[p.r.rnd.IntN(3)]
	p.policies[policy]++
	p.starts++
	p.state = ""
	p.mu.Unlock()
	stderr, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("%s-%d.stderr", p.name, gen)))
	if err != nil {
		return err
	}
	defer stderr.Close()
	if gen > 3 {
		_ = os.Remove(filepath.Join(p.dir, fmt.Sprintf("%s-%d.stderr", p.name, gen-3)))
	}
	cmd := exec.Command(p.bin, "chat", "--json", "--jid", p.jid, "--addr", p.r.proxy.Addr(),
		"--ca-file", p.r.srv.CAFile(), "--state-file", p.stateFile, "--to", p.peerJID,
		"--bg-policy", policy, "--idle-probe", "1s", "--probe-timeout", "1s", "--log-level", "info")
	cmd.Env = p.env
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.stdin, p.done = cmd, stdin, done
	p.mu.Unlock()
	go p.read(gen, stdout, done)
	return nil
}

// read reads the events of incarnation gen until its stdout ends.
func (p *proc) read(gen int, stdout io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a body of 250 KB apostrophes
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			p.r.t.Errorf("%s: not JSON on stdout: %.200q", p.name, sc.Text())
			continue
		}
		p.handle(gen, e)
	}
	if err := sc.Err(); err != nil {
		p.r.t.Errorf("%s: reading stdout: %v", p.name, err)
	}
}

func (p *proc) handle(gen int, e map[string]any) {
	now := time.Now()
	r := p.r
	name := p.str(e, "event")
	p.mu.Lock()
	defer func() {
		p.ev = append(p.ev, pev{at: now, gen: gen, ev: e})
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}()
	switch name {
	case "sent":
		// A message queued offline is reported twice, queued and then
		// written (the second time perhaps by a later process that took
		// over the outbox): the first report accepts the line, which
		// the event's body names.
		id := p.str(e, "id")
		if p.sentIDs[id] {
			return
		}
		p.sentIDs[id] = true
		from, n, ok := parseBody(p.str(e, "body"))
		i := slices.Index(p.fifo, n)
		switch {
		case id == "" || !ok || from != p.name:
			r.t.Errorf("%s: a sent event that is not one of its lines: %v", p.name, e)
		case i >= 0:
			p.fifo = slices.Delete(p.fifo, i, i+1)
			p.accepted[n] = true
			r.led.Sent(p.name, n, id, now)
		case p.accepted[n]:
			// Sent again under another id: the receiver would see it
			// twice unless it de-duplicates; the ledger will tell.
			p.newIDs++
			r.t.Logf("%s: line %d reported sent again under a new id %s", p.name, n, id)
		default:
			r.t.Errorf("%s: a sent event for line %d, neither typed nor accepted: %v", p.name, n, e)
		}
	case "error":
		input := p.str(e, "input")
		if from, n, ok := parseBody(input); ok && from == p.name {
			if i := slices.Index(p.fifo, n); i >= 0 {
				p.fifo = slices.Delete(p.fifo, i, i+1)
			}
			r.errs.Add(1)
			r.t.Logf("%s: send %q: %s", p.name, input, p.str(e, "error"))
			return
		}
		r.t.Logf("%s: error event: %v", p.name, e)
	case "acked":
		ids, _ := e["ids"].([]any)
		s := make([]string, 0, len(ids))
		for _, id := range ids {
			if id, ok := id.(string); ok {
				s = append(s, id)
			}
		}
		r.led.Acked(p.name, s, now)
	case "message":
		delayed, _ := e["delayed"].(bool)
		m := lastMsg{from: bare(p.str(e, "from")), id: p.str(e, "id"), body: p.str(e, "body")}
		if w := p.window; w != nil && *w == m {
			// The last message the killed process printed, before it
			// saved that it had: see Ledger.Redelivered.
			p.window = nil
			if sender, n, ok := parseBody(m.body); ok {
				r.led.Redelivered(sender, n)
				return
			}
		}
		p.last = m
		r.received(p.name, p.str(e, "from"), m.id, m.body, delayed)
	case "duplicate":
		if bare(p.str(e, "from")) == p.peerJID {
			r.led.Dropped(r.alice.name)
		}
	case "skipped":
		r.skipped(p.name, p.str(e, "from"), p.str(e, "id"), p.str(e, "reason"))
	case "state":
		p.state = p.str(e, "state")
		if p.state == "online" {
			if e["fresh"] == true {
				p.fresh++
			}
		}
	case "resumed":
		p.resumed++
	case "dead":
		p.dead++
	case "status":
		p.status = e
	}
}

func bare(jid string) string {
	b, _, _ := strings.Cut(jid, "/")
	return b
}

// sendLoop types a numbered line every sendEvery until stop is closed,
// except while paused. Lines typed into a process frozen by SIGSTOP wait in
// the pipe, as keys pressed on a frozen app wait in its input queue.
func (p *proc) sendLoop(stop <-chan struct{}) {
	tick := time.NewTicker(sendEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		if p.paused || p.stdin == nil {
			p.mu.Unlock()
			continue
		}
		n, w := p.next, p.stdin
		p.next++
		p.fifo = append(p.fifo, n)
		p.r.led.Typed(p.name, n)
		p.mu.Unlock()
		// A write to a process just killed fails; the line is then in
		// doubt like the others it had not reported.
		_, _ = io.WriteString(w, p.name+" "+strconv.Itoa(n)+"\n")
	}
}

func (p *proc) pause(on bool) {
	p.mu.Lock()
	p.paused = on
	p.mu.Unlock()
}

// command types a command line (not a message).
func (p *proc) command(line string) error {
	p.mu.Lock()
	w := p.stdin
	p.mu.Unlock()
	if w == nil {
		return errNoProcess
	}
	_, err := io.WriteString(w, line+"\n")
	return err
}

// kill kills the process with SIGKILL and waits until everything it wrote
// was read; the lines it had not reported are in doubt.
func (p *proc) kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.kills++
	p.mu.Unlock()
	if cmd == nil {
		return errNoProcess
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-done
	_ = cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fromStateFile()
	if p.last != (lastMsg{}) { // else the window of the kill before stays open
		last := p.last
		p.window, p.last = &last, lastMsg{}
	}
	for _, n := range p.fifo {
		p.r.led.InDoubt(p.name, n)
	}
	p.fifo = nil
	p.cmd, p.stdin, p.state = nil, nil, "killed"
	return nil
}

// fromStateFile reads the state file a killed process left: a message
// in it that the process had not reported sent was accepted all the same
// (the next process sends it), so it is Sent, not in doubt. Called with
// p.mu held.
func (p *proc) fromStateFile() {
	st, err := session.LoadState(p.stateFile, p.jid)
	if err != nil {
		p.r.t.Errorf("%s: the state file a killed process left: %v", p.name, err)
		return
	}
	var msgs []session.Message
	msgs = append(msgs, st.Outbox...)
	for _, list := range [][]session.Stanza{st.Unacked, st.Orphans} {
		for _, s := range list {
			if s.Message != nil {
				msgs = append(msgs, *s.Message)
			}
		}
	}
	now := time.Now()
	for _, m := range msgs {
		// A message resent after a failed resumption has a new id and
		// keeps its first one as origin-id.
		if p.sentIDs[m.ID] || m.OriginID != "" && p.sentIDs[m.OriginID] {
			continue
		}
		p.sentIDs[m.ID] = true
		from, n, ok := parseBody(m.Body)
		if ok && from == p.name && p.accepted[n] {
			continue // resent under a new id, perhaps more than once
		}
		i := slices.Index(p.fifo, n)
		if !ok || from != p.name || i < 0 {
			p.r.t.Errorf("%s: the state file holds a message %q (id %s) that is neither reported nor typed", p.name, m.Body, m.ID)
			continue
		}
		if m.ID == "" {
			p.r.t.Errorf("%s: the state file holds %q without an id", p.name, m.Body)
		}
		p.fifo = slices.Delete(p.fifo, i, i+1)
		p.accepted[n] = true
		p.r.led.Sent(p.name, n, m.ID, now)
		p.fromState++
	}
}

// signal sends sig (SIGSTOP, SIGCONT) to the process.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	if sig == syscall.SIGSTOP {
		p.stops++
	}
	p.mu.Unlock()
	if cmd == nil {
		return errNoProcess
	}
	if sig == syscall.SIGSTOP {
		return osproc.Stop(cmd.Process.Pid) // returns once it really is
	}
	return cmd.Process.Signal(sig)
}

// waitEvent waits up to backTimeout for an event of the current process
// at or after t0 that matches f.
func (p *proc) waitEvent(t0 time.Time, desc string, f func(map[string]any) bool) (time.Time, error) {
	deadline := time.NewTimer(backTimeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		gen, done := p.gen, p.done
		for _, e := range p.ev {
			if e.gen == gen && !e.at.Before(t0) && f(e.ev) {
				p.mu.Unlock()
				return e.at, nil
			}
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-done:
			return time.Time{}, fmt.Errorf("%s: the process ended before %s (%s)", p.name, desc, p.stderrTail())
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%s: no %s within %v (state %q; %s)", p.name, desc, backTimeout, p.currentState(), p.stderrTail())
		}
	}
}

func (p *proc) waitState(t0 time.Time, state string) error {
	_, err := p.waitEvent(t0, "state "+state, func(e map[string]any) bool { return e["event"] == "state" && e["state"] == state })
	return err
}

func (p *proc) currentState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// waitOnline waits until the process has reported a dead connection and
// then online again, since t0.
func (p *proc) waitReconnected(t0 time.Time) error {
	at, err := p.waitEvent(t0, "dead connection", func(e map[string]any) bool { return e["event"] == "dead" })
	if err != nil {
		return err
	}
	return p.waitState(at, "online")
}

// waitOnline waits until the current process is online.
func (p *proc) waitOnline() error {
	deadline := time.Now().Add(backTimeout)
	for p.currentState() != "online" {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not online within %v (state %q; %s)", p.name, backTimeout, p.currentState(), p.stderrTail())
		}
		select {
		case <-p.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// settled asks the process for its status: online, active, nothing
// unacknowledged or queued, every line typed reported.
func (p *proc) settled() bool {
	t0 := time.Now()
	if p.command("/status") != nil {
		return false
	}
	if _, err := p.waitEvent(t0, "status", func(e map[string]any) bool { return e["event"] == "status" }); err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status
	num := func(k string) float64 { f, _ := st[k].(float64); return f }
	return len(p.fifo) == 0 && st["connection"] == "online" && st["app"] == "active" && num("unacked") == 0 && num("queued") == 0
}

// relogin ends the process (end of input: it detaches, leaving its stream
// resumable), waits until the server has given that stream up, and starts
// another: it finds the stream gone and opens a fresh session, which
// collects offline storage, as a user reopening the app much later would.
func (p *proc) relogin() error {
	p.mu.Lock()
	cmd, done, w := p.cmd, p.done, p.stdin
	p.mu.Unlock()
	if cmd != nil {
		_ = w.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			return fmt.Errorf("%s: the process did not leave at the end of its input", p.name)
		}
		_ = cmd.Wait()
		p.mu.Lock()
		p.cmd, p.stdin = nil, nil
		p.mu.Unlock()
	}
	time.Sleep(p.r.srv.Hibernation() + 2*time.Second)
	return p.start()
}

// stop ends the process at the end of the test.
func (p *proc) stop(t *testing.T) {
	p.mu.Lock()
	cmd, done, w := p.cmd, p.done, p.stdin
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = w.Close()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Logf("%s: still running 15 s after the end of its input; killed", p.name)
		_ = cmd.Process.Kill()
		<-done
	}
	_ = cmd.Wait()
}

// stderrTail is the end of the current process's stderr, for errors.
func (p *proc) stderrTail() string {
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(p.dir, fmt.Sprintf("%s-%d.stderr", p.name, gen)))
	if err != nil {
		return "no stderr"
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return "stderr: " + string(b)
}

// trim forgets events before t0.
func (p *proc) trim(t0 time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 0
	for i < len(p.ev) && p.ev[i].at.Before(t0) {
		i++
	}
	p.ev = append([]pev(nil), p.ev[i:]...)
}

// buildBinary builds xmppbg, with the race detector when the test has it.
func buildBinary(t *testing.T) string {
	t.Helper()
	return integration.BuildXmppbg(t, raceEnabled)
}
