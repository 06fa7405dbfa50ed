package scenario

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/session"
)

// Entry is one line of the timeline: a driver event of alice or bob, a
// statement, an expectation's outcome, or a server action.
type Entry struct {
	// At is the time since the start of the run.
	At time.Duration
	// Time is the wall-clock time.
	Time time.Time
	// Who is "alice", "bob", "script" (a statement or a statement's error),
	// "check" (an expectation's outcome), "server" or "net" (the network
	// between alice and the server).
	Who string
	// Name says what happened. For alice and bob it names the driver
	// event: state (driver.StateChanged), resumed, message (Received),
	// duplicate, sent, acked, resent, dead, retry (Retrying), lifecycle,
	// warning, error (Undelivered); or "status" (the answer to /status);
	// for alice's app in a process of its own, "freeze" and "thaw" (the
	// runner stopped and continued it) and "woke" (the app reported
	// that it noticed the suspension by itself); "network" for a fault
	// outside alice's app (Who "net"); otherwise "statement", "expect",
	// "error" or "server".
	Name string
	// Line is the script line, for statements, their errors and
	// expectations.
	Line int
	// Text describes the entry on one line.
	Text string
	// State is the new state, for state entries: alice's app state
	// (active, background, suspended) or a connection state.
	State string
	// OK is an expectation's outcome.
	OK bool
	// Event is the driver event, for alice's and bob's entries (nil for the
	// "active" state the runner records when /resume brings the app back,
	// and for the answers to commands).
	Event driver.Event

	stmt   *Statement
	ledger bool // a message between alice and bob (sent or received)
}

// String formats the entry as a timeline line: "+1.234s  alice   TEXT".
func (e Entry) String() string {
	who := e.Who
	if e.Line > 0 {
		return fmt.Sprintf("%9s  %-6s  :%-3d %s", fmtAt(e.At), who, e.Line, e.Text)
	}
	return fmt.Sprintf("%9s  %-6s  %s", fmtAt(e.At), who, e.Text)
}

// message returns the message of a sent or received entry.
func (e Entry) message() (session.Message, bool) {
	switch ev := e.Event.(type) {
	case driver.Sent:
		return ev.Message, true
	case driver.Received:
		return ev.Message, true
	}
	return session.Message{}, false
}

func fmtAt(d time.Duration) string { return fmt.Sprintf("+%.3fs", d.Seconds()) }

// Failure is a failed expectation or a statement that could not be carried
// out.
type Failure struct {
	// Line is the statement's line.
	Line int
	// Statement is the statement in canonical form.
	Statement string
	// Reason says what went wrong.
	Reason string
}

func (f Failure) String() string { return fmt.Sprintf(":%d %s: %s", f.Line, f.Statement, f.Reason) }

// Flow counts the messages of one direction between alice and bob.
type Flow struct {
	// From and To are "alice" and "bob", or the other way round.
	From, To string
	// Sent is the number of messages sent (numbered or typed).
	Sent int
	// Delivered is how many of them the receiving application got at
	// least once.
	Delivered int
	// Lost is Sent minus Delivered: not delivered by the end of the run.
	Lost int
	// Duplicated is how many were delivered to the application more than
	// once.
	Duplicated int
	// Unexpected counts messages from the sender that arrived but were
	// not sent during the run (left over on the server).
	Unexpected int
}

// Repair is one time alice's connection was repaired: after /resume from a
// suspension, or after her connection died while she was running.
type Repair struct {
	// Cause is "resume", "thaw" (alice's app process continued after a
	// freeze: only the app itself can notice) or "dead".
	Cause string
	// Start is when it began (the /resume, the thaw, or the detection of
	// the dead connection), since the start of the run.
	Start time.Duration
	// Dead is how long after Start the connection was found dead; zero when
	// it was not (the connection survived, or was already closed by the
	// policy) or when Cause is "dead".
	Dead time.Duration
	// ByProbe says whether a probe found it dead.
	ByProbe bool
	// Outcome is "resumed" (XEP-0198), "fresh" (a new session) or "kept"
	// (the probe answered: the connection survived); "" while under way.
	Outcome string
	// Login is how long the login that resumed the stream took.
	Login time.Duration
	// Took is the time from Start until alice was online again.
	Took time.Duration
	// Done says whether alice is online again.
	Done bool
}

func (r Repair) String() string {
	var b strings.Builder
	switch r.Cause {
	case "resume":
		fmt.Fprintf(&b, "after /resume at %s: ", fmtAt(r.Start))
	case "thaw":
		fmt.Fprintf(&b, "after the thaw (SIGCONT) at %s: ", fmtAt(r.Start))
	default:
		fmt.Fprintf(&b, "after the connection died at %s: ", fmtAt(r.Start))
	}
	if r.Dead > 0 {
		how := "by a read or write error"
		if r.ByProbe {
			how = "by the probe"
		}
		fmt.Fprintf(&b, "dead detected %s later %s; ", fmtDur(r.Dead), how)
	}
	switch r.Outcome {
	case "resumed":
		fmt.Fprintf(&b, "stream resumed (login %s)", fmtDur(r.Login))
	case "fresh":
		b.WriteString("fresh session")
	case "kept":
		b.WriteString("connection kept (the probe answered)")
	default:
		b.WriteString("not repaired by the end of the run")
		return b.String()
	}
	fmt.Fprintf(&b, "; online again after %s", fmtDur(r.Took))
	return b.String()
}

// fmtDur formats a duration for people: 87ms, 2.01s.
func fmtDur(d time.Duration) string {
	if d > 0 && d < time.Millisecond {
		return "<1ms"
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// Summary sums a run up.
type Summary struct {
	// AliceToBob and BobToAlice count the messages each way.
	AliceToBob, BobToAlice Flow
	// DuplicatesDropped counts incoming messages that the de-duplication
	// of package session caught (delivered to neither application).
	DuplicatesDropped int
	// Repairs are alice's repairs, in order.
	Repairs []Repair
	// Resumed, Fresh and Kept count the repairs by outcome.
	Resumed, Fresh, Kept int
	// Expectations is the number of expectations checked; Failed how many
	// of them failed.
	Expectations, Failed int
}

// Result is the outcome of a run.
type Result struct {
	// Name is the script's name.
	Name string
	// Start is when the run started (the clients were started then).
	Start time.Time
	// Duration is how long the run took.
	Duration time.Duration
	// Entries is the timeline, in time order.
	Entries []Entry
	// Failures are the failed expectations and the statements that could
	// not be carried out, in order.
	Failures []Failure
	// Summary sums the run up.
	Summary Summary
}

// Passed reports whether every expectation was met and every statement
// carried out.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// WriteText writes the timeline, one entry per line, then the summary.
func (r *Result) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Scenario %s\n", r.Name)
	for _, e := range r.Entries {
		fmt.Fprintln(bw, e.String())
	}
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return err
	}
	return r.WriteSummary(w)
}

// WriteSummary writes the summary: messages each way, lost and duplicated,
// alice's repairs and how long each took, and the failures.
func (r *Result) WriteSummary(w io.Writer) error {
	bw := bufio.NewWriter(w)
	s := r.Summary
	verdict := "PASSED"
	if !r.Passed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(bw, "Summary of %s: %s (%d of %d expectations met, %s)\n", r.Name, verdict,
		s.Expectations-s.Failed, s.Expectations, fmtDur(r.Duration))
	for _, f := range []Flow{s.AliceToBob, s.BobToAlice} {
		fmt.Fprintf(bw, "  %-5s -> %-5s %3d sent, %3d delivered, %d lost, %d duplicated", f.From, f.To, f.Sent, f.Delivered, f.Lost, f.Duplicated)
		if f.Unexpected > 0 {
			fmt.Fprintf(bw, ", %d unexpected", f.Unexpected)
		}
		bw.WriteByte('\n')
	}
	fmt.Fprintf(bw, "  duplicates caught by de-duplication: %d\n", s.DuplicatesDropped)
	fmt.Fprintf(bw, "  repairs of alice's connection: %d (resumed %d, fresh session %d, kept %d)\n",
		len(s.Repairs), s.Resumed, s.Fresh, s.Kept)
	for i, rep := range s.Repairs {
		fmt.Fprintf(bw, "    %d. %s\n", i+1, rep)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintf(bw, "  failures: none\n")
	} else {
		fmt.Fprintf(bw, "  failures:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(bw, "    %s:%d %s: %s\n", r.Name, f.Line, f.Statement, f.Reason)
		}
	}
	return bw.Flush()
}
