package scenario

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/suspend"
)

// exec records a statement and carries it out.
func (r *runner) exec(ctx context.Context, st *Statement) {
	r.record(Entry{Who: "script", Name: "statement", Line: st.Line, Text: st.String(), stmt: st})
	switch st.kind {
	case kPolicy:
		// Applied when alice was created.
	case kChat:
		r.chat(ctx, st)
	case kSend:
		r.send(ctx, st, r.alice)
	case kPeerSend:
		r.send(ctx, st, r.bob)
	case kWait:
		r.sleep(ctx, st.dur)
	case kWaitHibernation:
		r.sleep(ctx, r.env.Hibernation+HibernationMargin)
	case kWaitState:
		r.waitState(ctx, st)
	case kServer:
		r.server(ctx, st)
	case kFreeze, kThaw:
		r.freeze(st)
	case kNetwork:
		r.network(st)
	default:
		if st.IsExpectation() {
			r.expect(ctx, st)
		}
	}
}

// within is how long a statement waits: its "within", else Env.Timeout.
func (r *runner) within(st *Statement) time.Duration {
	if st.dur > 0 {
		return st.dur
	}
	return r.env.Timeout
}

// resolve turns the names alice and bob into their JIDs.
func (r *runner) resolve(to string) string {
	switch to {
	case "alice":
		return r.alice.jid
	case "bob":
		return r.bob.jid
	}
	return to
}

// chat runs one of alice's chat commands.
func (r *runner) chat(ctx context.Context, st *Statement) {
	a := r.alice.acct
	c := st.cmd
	c.To = r.resolve(c.To)
	if r.frozen() {
		r.fail(st, "alice's app is frozen (its process is stopped): it runs no code and takes no command")
		return
	}
	switch c.Op {
	case driver.OpSend:
		// As Exec does, but the ledger learns of the message before the
		// event (which comes on another goroutine) arrives.
		if a.AppState() == suspend.Suspended {
			r.fail(st, "alice is suspended: a suspended app runs no code and sends nothing")
			return
		}
		to := c.To
		if to == "" {
			to = a.Peer()
		}
		if err := r.sendOne(ctx, r.alice, to, c.Text); err != nil {
			r.fail(st, err.Error())
		}
		return
	case driver.OpResume:
		r.resume(ctx, st, c)
		return
	}
	out, err := a.Exec(ctx, c)
	if err != nil {
		r.fail(st, err.Error())
		return
	}
	if out != "" {
		name := "status"
		if c.Op == driver.OpTo {
			name = "lifecycle"
		}
		r.record(Entry{Who: "alice", Name: name, Text: out})
	}
}

// resume brings alice back: from a suspension, a repair starts.
func (r *runner) resume(ctx context.Context, st *Statement, c driver.Command) {
	a := r.alice.acct
	from := a.AppState()
	r.mu.Lock()
	t0 := time.Now()
	var rep *Repair
	if from == suspend.Suspended {
		rep = &Repair{Cause: "resume", Start: t0.Sub(r.start)}
		r.repairs = append(r.repairs, rep)
	}
	if from != suspend.Active {
		r.recordLocked(Entry{Who: "alice", Name: "state", State: "active", Time: t0, Text: "state active (back in the foreground)"})
	}
	r.mu.Unlock()
	if _, err := a.Exec(ctx, c); err != nil {
		r.mu.Lock()
		if rep != nil && !rep.Done && rep.Outcome == "" {
			r.dropRepair(rep)
		}
		r.failLocked(st, err.Error())
		r.mu.Unlock()
	}
}

// send sends st.n numbered messages from sd to its peer, in the background
// when st.every is set.
func (r *runner) send(ctx context.Context, st *Statement, sd *side) {
	r.waitJob(ctx, sd)
	if st.every == 0 {
		r.sendN(ctx, st, sd)
		return
	}
	done := make(chan struct{})
	r.mu.Lock()
	sd.job = done
	r.mu.Unlock()
	go func() {
		defer close(done)
		r.sendN(ctx, st, sd)
	}()
}

func (r *runner) sendN(ctx context.Context, st *Statement, sd *side) {
	for i := 0; i < st.n; i++ {
		if i > 0 && st.every > 0 {
			r.sleep(ctx, st.every)
		}
		if ctx.Err() != nil {
			return
		}
		if sd == r.alice && sd.acct.AppState() == suspend.Suspended {
			r.fail(st, fmt.Sprintf("alice is suspended: a suspended app runs no code; %s not sent", plural(st.n-i, "message")))
			return
		}
		if sd == r.alice && r.frozen() {
			r.fail(st, fmt.Sprintf("alice's app is frozen (its process is stopped): it runs no code; %s not sent", plural(st.n-i, "message")))
			return
		}
		r.mu.Lock()
		sd.count++
		body := fmt.Sprintf("%s #%d", sd.name, sd.count)
		r.mu.Unlock()
		if err := r.sendOne(ctx, sd, sd.peer.jid, body); err != nil {
			r.fail(st, err.Error())
			return
		}
	}
}

// sendOne sends body from sd to to and enters it in the ledger.
func (r *runner) sendOne(ctx context.Context, sd *side, to, body string) error {
	ctx, cancel := context.WithTimeout(ctx, r.env.Timeout)
	defer cancel()
	m, err := sd.acct.Send(ctx, to, body)
	if err != nil {
		return fmt.Errorf("sending %q: %w", body, err)
	}
	if driver.Bare(to) == sd.peer.jid {
		r.mu.Lock()
		sd.flow.addSent(key(m), m.Body)
		r.mu.Unlock()
	}
	return nil
}

// waitJob waits for sd's background sender, if any.
func (r *runner) waitJob(ctx context.Context, sd *side) {
	r.mu.Lock()
	job := sd.job
	r.mu.Unlock()
	if job == nil {
		return
	}
	select {
	case <-job:
	case <-ctx.Done():
	}
}

// waitState waits until alice's app or connection is in the state named.
func (r *runner) waitState(ctx context.Context, st *Statement) {
	a := r.alice.acct
	ok := r.waitUntil(ctx, r.within(st), func() bool {
		return a.AppState().String() == st.state || a.Status().String() == st.state
	})
	if !ok && ctx.Err() == nil {
		r.fail(st, fmt.Sprintf("not %s within %v (app %s, connection %s)", st.state, r.within(st), a.AppState(), a.Status()))
	}
}

// server restarts the server, or takes it down for alice and back up.
func (r *runner) server(ctx context.Context, st *Statement) {
	t0 := time.Now()
	var err error
	switch st.action {
	case serverRestart, serverKill:
		sig, how := os.Signal(syscall.SIGTERM), "SIGTERM"
		if st.action == serverKill {
			sig, how = syscall.SIGKILL, "SIGKILL"
		}
		r.record(Entry{Who: "server", Name: "server", Text: "stopping with " + how + ", then starting again"})
		rctx, cancel := context.WithTimeout(ctx, r.env.Timeout)
		err = r.env.Server.Restart(rctx, sig)
		cancel()
		if err == nil {
			r.record(Entry{Who: "server", Name: "server", Text: fmt.Sprintf("up again after %s", fmtDur(time.Since(t0)))})
		}
	case serverDown:
		r.record(Entry{Who: "server", Name: "server", Text: "unreachable for alice (connections closed, dials refused)"})
		err = r.faults.Down()
	case serverUp:
		r.record(Entry{Who: "server", Name: "server", Text: "reachable again"})
		err = r.faults.Up()
	}
	if err != nil {
		r.fail(st, err.Error())
	}
}

// frozen reports whether alice's app process is stopped.
func (r *runner) frozen() bool {
	f, ok := r.alice.acct.(freezer)
	return ok && f.Frozen()
}

// freeze stops alice's app process (freeze) or continues it (thaw). Nothing
// tells the app: a thaw starts a repair that only the app itself can carry
// out, by noticing that it was stopped.
func (r *runner) freeze(st *Statement) {
	f, ok := r.alice.acct.(freezer)
	if !ok {
		r.fail(st, "alice's app does not run in a process of its own")
		return
	}
	if st.kind == kFreeze {
		r.record(Entry{Who: "alice", Name: "freeze", Text: "the OS stops the app's process (SIGSTOP): it runs no code, timers included"})
		if err := f.Freeze(); err != nil {
			r.fail(st, err.Error())
		}
		return
	}
	r.mu.Lock()
	t0 := time.Now()
	rep := &Repair{Cause: "thaw", Start: t0.Sub(r.start)}
	r.repairs = append(r.repairs, rep)
	r.recordLocked(Entry{Who: "alice", Name: "thaw", Time: t0, Text: "the OS continues the process (SIGCONT); nothing tells the app"})
	r.mu.Unlock()
	if err := f.Thaw(); err != nil {
		r.mu.Lock()
		r.dropRepair(rep)
		r.failLocked(st, err.Error())
		r.mu.Unlock()
	}
}

// network breaks alice's live connection outside her app, in the proxy
// between her and the server: new connections pass.
func (r *runner) network(st *Statement) {
	var err error
	switch st.action {
	case networkRST:
		r.record(Entry{Who: "net", Name: "network", Text: "the network resets alice's live connection (TCP RST)"})
		err = r.faults.ResetPeer()
	case networkBlackhole:
		r.record(Entry{Who: "net", Name: "network", Text: "the network silently drops alice's live connection (a NAT that lost its mapping); new connections pass"})
		err = r.faults.BlackholeLive()
	}
	if err != nil {
		r.fail(st, err.Error())
	}
}
