package scenario

import (
	"fmt"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// recordLocked adds an entry to the timeline; r.mu must be held.
func (r *runner) recordLocked(e Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.At = max(e.Time.Sub(r.start), 0)
	r.entries = append(r.entries, e)
	if r.env.OnEntry != nil {
		r.env.OnEntry(e)
	}
}

// record adds an entry to the timeline.
func (r *runner) record(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordLocked(e)
}

// fail records a failure of the statement st and its timeline entry.
func (r *runner) fail(st *Statement, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLocked(st, reason)
}

func (r *runner) failLocked(st *Statement, reason string) {
	r.failures = append(r.failures, Failure{Line: st.Line, Statement: st.String(), Reason: reason})
	r.recordLocked(Entry{Who: "script", Name: "error", Line: st.Line, Text: "FAILED " + st.String() + ": " + reason, stmt: st})
}

// name returns "alice" or "bob" for their JIDs (bare or full), else the JID.
func (r *runner) name(jid string) string {
	switch driver.Bare(jid) {
	case r.alice.jid:
		return "alice"
	case r.bob.jid:
		return "bob"
	}
	return jid
}

// eventName is the timeline's name of a driver event (Entry.Name).
func eventName(e driver.Event) string {
	switch e := e.(type) {
	case driver.StateChanged:
		return "state"
	case driver.Resumed:
		return "resumed"
	case driver.Received:
		return "message"
	case driver.Duplicate:
		return "duplicate"
	case driver.Sent:
		return "sent"
	case driver.Acked:
		return "acked"
	case driver.Resent:
		return "resent"
	case driver.Dead:
		return "dead"
	case driver.Retrying:
		return "retry"
	case driver.Woke:
		return "woke"
	case driver.Lifecycle:
		return "lifecycle"
	case driver.Warning:
		return "warning"
	case driver.Undelivered, driver.Bounced:
		return "error"
	case note:
		return e.name
	}
	return fmt.Sprintf("%T", e)
}

// onEvent records a driver event of sd, keeps the ledger and alice's
// repairs, and wakes the waiter.
func (r *runner) onEvent(sd *side, e driver.Event) {
	defer r.signal()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	if _, ok := e.(driver.Contact); ok {
		return // presences are not part of a scenario's story
	}
	ent := Entry{Who: sd.name, Name: eventName(e), Time: e.Time(), Event: e}
	switch e := e.(type) {
	case driver.Sent:
		m := e.Message
		if driver.Bare(m.To) == sd.peer.jid {
			sd.flow.addSent(key(m), m.Body)
			ent.ledger = true
		}
		ent.Text = fmt.Sprintf("sent %q to %s", m.Body, r.name(m.To))
		if e.Queued {
			ent.Text += " (queued until online)"
		}
	case driver.Received:
		m := e.Message
		if driver.Bare(m.From) == sd.peer.jid {
			sd.peer.flow.addGot(key(m))
			ent.ledger = true
		}
		ent.Text = fmt.Sprintf("received %q from %s", m.Body, r.name(m.From))
		if m.Delayed() {
			ent.Text += " (delayed: held by the server)"
		}
	case driver.Duplicate:
		r.dupDropped++
		ent.Text = fmt.Sprintf("dropped a duplicate of %q from %s", e.Message.Body, r.name(e.Message.From))
	case driver.Acked:
		ent.Text = fmt.Sprintf("server acknowledged %s", plural(len(e.IDs), "message"))
	case driver.Resent:
		ent.Text = fmt.Sprintf("resent %s", plural(len(e.IDs), "unacknowledged message"))
		if e.Delayed {
			ent.Text += " with a delay stamp (fresh session)"
		}
	case driver.Retrying:
		ent.Text = fmt.Sprintf("login attempt %d failed (%s); next in %s", e.Attempt, errText(e.Err), fmtDur(e.Delay))
	case driver.Resumed:
		ent.Text = fmt.Sprintf("stream resumed (XEP-0198), login took %s", fmtDur(e.Login))
		if rep := r.openRepair(sd); rep != nil {
			rep.Outcome = "resumed"
			rep.Login = e.Login
		}
	case driver.Dead:
		ent.Text = r.dead(sd, e)
	case driver.StateChanged:
		ent.State = e.State.String()
		ent.Text = r.state(sd, e)
	case driver.Lifecycle, driver.Woke:
		ent.Text = e.(fmt.Stringer).String()
	case driver.Warning:
		ent.Text = "warning: " + e.String()
	case driver.Undelivered:
		ent.Text = "error: " + e.String()
	case driver.Bounced:
		ent.Text = "error: " + e.String()
	case note:
		ent.Text = e.text
		if rep := r.openRepair(sd); e.name == "woke" && rep != nil && rep.Cause == "thaw" {
			ent.Text += fmt.Sprintf(", %s after the thaw", fmtDur(e.At.Sub(r.start)-rep.Start))
		}
	}
	r.recordLocked(ent)
}

// dead narrates a dead connection and opens a repair of alice's, or notes
// when a repair under way found it; r.mu must be held.
func (r *runner) dead(sd *side, e driver.Dead) string {
	how := "a read or write failed"
	if e.ByProbe {
		how = fmt.Sprintf("probe, %s", fmtDur(e.Took))
	}
	text := fmt.Sprintf("connection dead (%s)", how)
	if e.Err != nil {
		text += ": " + e.Err.Error()
	}
	if sd != r.alice {
		return text
	}
	rep := r.openRepair(sd)
	if rep == nil {
		r.repairs = append(r.repairs, &Repair{Cause: "dead", Start: e.At.Sub(r.start)})
	} else if (rep.Cause == "resume" || rep.Cause == "thaw") && rep.Dead == 0 {
		rep.Dead = e.At.Sub(r.start) - rep.Start
		rep.ByProbe = e.ByProbe
		what := "read or write error"
		if e.ByProbe {
			what = "probe"
		}
		text = fmt.Sprintf("dead detected %s after %s (%s)", fmtDur(rep.Dead), causeText(rep.Cause), what)
		if e.Err != nil {
			text += ": " + e.Err.Error()
		}
	}
	return text
}

// state narrates a new state, and ends the repair under way when alice is
// online again; r.mu must be held.
func (r *runner) state(sd *side, e driver.StateChanged) string {
	text := "state " + e.State.String()
	switch e.State {
	case driver.Online:
		if e.Fresh {
			text += " (fresh session)"
			if rep := r.openRepair(sd); rep != nil {
				rep.Outcome = "fresh"
			}
		}
		if rep := r.openRepair(sd); rep != nil {
			rep.Done = true
			rep.Took = e.At.Sub(r.start) - rep.Start
			if rep.Outcome == "" {
				rep.Outcome = "kept"
			}
			text += fmt.Sprintf(": back %s after %s, %s", fmtDur(rep.Took), causeText(rep.Cause), outcomeText(rep.Outcome))
		}
		sd.online = true
	case driver.Reconnecting:
		if sd == r.alice && sd.online && r.openRepair(sd) == nil {
			r.repairs = append(r.repairs, &Repair{Cause: "dead", Start: e.At.Sub(r.start)})
		}
	}
	if e.Err != nil {
		text += " (" + e.Err.Error() + ")"
	}
	return text
}

// openRepair returns alice's repair under way, or nil; r.mu must be held.
func (r *runner) openRepair(sd *side) *Repair {
	if sd != r.alice || len(r.repairs) == 0 {
		return nil
	}
	if rep := r.repairs[len(r.repairs)-1]; !rep.Done {
		return rep
	}
	return nil
}

// dropRepair forgets a repair that did not start; r.mu must be held.
func (r *runner) dropRepair(rep *Repair) {
	for i, x := range r.repairs {
		if x == rep {
			r.repairs = append(r.repairs[:i], r.repairs[i+1:]...)
			return
		}
	}
}

// causeText names what began a repair, after "after".
func causeText(cause string) string {
	switch cause {
	case "dead":
		return "the connection died"
	case "thaw":
		return "the thaw"
	}
	return "/resume"
}

func outcomeText(o string) string {
	switch o {
	case "resumed":
		return "stream resumed"
	case "fresh":
		return "fresh session"
	}
	return "connection kept"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
