package scenario

import (
	"context"
	"fmt"
	"strings"
)

// expect checks an expectation and records its outcome.
func (r *runner) expect(ctx context.Context, st *Statement) {
	ok, detail := r.check(ctx, st)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expectations++
	if ok {
		r.recordLocked(Entry{Who: "check", Name: "expect", Line: st.Line, OK: true, Text: "ok " + st.String() + ": " + detail, stmt: st})
		return
	}
	r.failed++
	r.failures = append(r.failures, Failure{Line: st.Line, Statement: st.String(), Reason: detail})
	r.recordLocked(Entry{Who: "check", Name: "expect", Line: st.Line, Text: "FAILED " + st.String() + ": " + detail, stmt: st})
}

// check waits (bounded) for an expectation to be met and says how it went.
func (r *runner) check(ctx context.Context, st *Statement) (bool, string) {
	switch st.kind {
	case kExpectReceived, kExpectPeerReceived:
		return r.checkReceived(ctx, st)
	case kExpectResumed, kExpectFresh, kExpectKept:
		return r.checkRepair(ctx, st)
	case kExpectDelivered:
		return r.checkDelivered(ctx, st)
	case kExpectNoDuplicates:
		r.mu.Lock()
		defer r.mu.Unlock()
		if problems := r.duplicates(); len(problems) > 0 {
			return false, strings.Join(problems, "; ")
		}
		return true, fmt.Sprintf("no message delivered twice (%s caught by de-duplication)", plural(r.dupDropped, "duplicate"))
	}
	return false, "not an expectation"
}

// checkReceived: expect received N, expect peer received N.
func (r *runner) checkReceived(ctx context.Context, st *Statement) (bool, string) {
	f, who, from := r.bob.flow, "alice", "bob"
	if st.kind == kExpectPeerReceived {
		f, who, from = r.alice.flow, "bob", "alice"
	}
	r.waitUntil(ctx, r.within(st), r.locked(func() bool { return f.distinct() >= st.n }))
	r.mu.Lock()
	n := f.distinct()
	r.mu.Unlock()
	switch {
	case n == st.n:
		return true, fmt.Sprintf("%s got %s from %s", who, plural(n, "distinct message"), from)
	case n > st.n:
		return false, fmt.Sprintf("%s got %s from %s, more than expected", who, plural(n, "distinct message"), from)
	}
	return false, fmt.Sprintf("%s got only %d of %d messages from %s within %v", who, n, st.n, from, r.within(st))
}

// checkRepair: expect resumed, expect fresh, expect kept (within D).
func (r *runner) checkRepair(ctx context.Context, st *Statement) (bool, string) {
	want := map[kind]string{kExpectResumed: "resumed", kExpectFresh: "fresh", kExpectKept: "kept"}[st.kind]
	var rep Repair
	found := false
	r.waitUntil(ctx, r.env.Timeout+st.dur, r.locked(func() bool {
		if len(r.repairs) == 0 {
			return false
		}
		rep, found = *r.repairs[len(r.repairs)-1], true
		return rep.Done
	}))
	switch {
	case !found:
		return false, "alice's connection was never repaired (no /resume from a suspension, no dead connection)"
	case !rep.Done:
		return false, fmt.Sprintf("alice not online again within %v of the repair's start", r.env.Timeout+st.dur)
	case rep.Outcome != want:
		return false, fmt.Sprintf("the last repair was not %s: %s", outcomeText(want), rep)
	case st.dur > 0 && rep.Took > st.dur:
		return false, fmt.Sprintf("took %s, more than %v: %s", fmtDur(rep.Took), st.dur, rep)
	}
	return true, rep.String()
}

// checkDelivered: expect delivered.
func (r *runner) checkDelivered(ctx context.Context, st *Statement) (bool, string) {
	for _, sd := range r.sides() {
		r.waitJob(ctx, sd)
	}
	if r.waitUntil(ctx, r.within(st), r.locked(r.allDelivered)) {
		r.sleep(ctx, settle)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var problems []string
	for _, sd := range r.sides() {
		if m := sd.flow.missing(); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("%s never got %s: %s", sd.peer.name, plural(len(m), "message"), list(m)))
		}
		if d := sd.flow.duplicated(); len(d) > 0 {
			problems = append(problems, fmt.Sprintf("%s got duplicates: %s", sd.peer.name, list(d)))
		}
	}
	if len(problems) > 0 {
		return false, strings.Join(problems, "; ")
	}
	return true, fmt.Sprintf("%d alice->bob and %d bob->alice, each exactly once", len(r.alice.flow.sent), len(r.bob.flow.sent))
}

// duplicates describes the messages delivered more than once; r.mu must
// be held.
func (r *runner) duplicates() []string {
	var problems []string
	for _, sd := range r.sides() {
		if d := sd.flow.duplicated(); len(d) > 0 {
			problems = append(problems, fmt.Sprintf("%s got duplicates: %s", sd.peer.name, list(d)))
		}
	}
	return problems
}

// list quotes up to five items.
func list(items []string) string {
	const max = 5
	var b strings.Builder
	for i, s := range items {
		if i == max {
			fmt.Fprintf(&b, ", and %d more", len(items)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}
