package scenario

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// fakeFrozen is alice in a process of her own (see procAccount), scripted:
// after a thaw she notices the suspension after noticeAfter and then
// repairs her connection as fakeAccount.repair says; with noticeAfter 0 she
// never notices.
type fakeFrozen struct {
	*fakeAccount
	noticeAfter time.Duration
	frozen      atomic.Bool
}

func (f *fakeFrozen) Freeze() error { f.frozen.Store(true); return nil }
func (f *fakeFrozen) Frozen() bool  { return f.frozen.Load() }

func (f *fakeFrozen) Thaw() error {
	f.frozen.Store(false)
	if f.noticeAfter > 0 {
		time.AfterFunc(f.noticeAfter, func() {
			f.send(note{Stamp: stamp(), name: "woke", text: "noticed by itself that it had been suspended"})
			f.repairConn()
		})
	}
	return nil
}

// playFrozen is play with alice as a fakeFrozen.
func playFrozen(t *testing.T, script string, noticeAfter time.Duration) (*Result, *fakeFaults) {
	t.Helper()
	s, err := Parse("test.scn", strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	var (
		res    *Result
		faults = &fakeFaults{}
	)
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(Env{Domain: "example.org"}.withDefaults(), s)
		alice := &fakeAccount{jid: r.alice.jid, emit: r.emitter(r.alice), latency: 10 * time.Millisecond, copies: -1, login: 50 * time.Millisecond, repair: "fresh"}
		bob := &fakeAccount{jid: r.bob.jid, emit: r.emitter(r.bob), latency: 10 * time.Millisecond, copies: -1, login: 50 * time.Millisecond}
		alice.peer, bob.peer = bob, alice
		r.alice.acct = &fakeFrozen{fakeAccount: alice, noticeAfter: noticeAfter}
		r.bob.acct = bob
		r.faults = faults
		res, err = r.play(t.Context())
		if err != nil {
			t.Fatal(err)
		}
	})
	return res, faults
}

const freezeScript = `
freeze
network blackhole
send 1
peer send 2
wait 1s
thaw
expect fresh within 3s
expect delivered
`

// A thaw starts a repair that the app itself ends: it is timed from the
// thaw, the network fault reaches the proxy, and a frozen app sends
// nothing.
func TestRunnerFreezeThaw(t *testing.T) {
	t.Parallel()
	res, faults := playFrozen(t, freezeScript, 20*time.Millisecond)
	if len(res.Failures) != 1 || res.Failures[0].Line != 4 || !strings.Contains(res.Failures[0].Reason, "frozen") {
		t.Fatalf("failures %v, want only the send while frozen\n%s", res.Failures, timeline(res))
	}
	if faults.blackhole != 1 || faults.rst != 0 {
		t.Errorf("faults %+v, want one blackhole", faults)
	}
	if len(res.Summary.Repairs) != 1 {
		t.Fatalf("repairs %+v", res.Summary.Repairs)
	}
	rep := res.Summary.Repairs[0]
	// Noticed 20ms after the thaw, the probe's 2s, the 50ms login.
	if want := 20*time.Millisecond + DefaultProbeTimeout + 50*time.Millisecond; rep.Cause != "thaw" || rep.Outcome != "fresh" || rep.Took != want || rep.Dead != 20*time.Millisecond+DefaultProbeTimeout {
		t.Errorf("repair %+v, want fresh after the thaw in %v", rep, want)
	}
	text := timeline(res)
	for _, want := range []string{
		"alice   the OS stops the app's process (SIGSTOP)",
		"net     the network silently drops alice's live connection",
		"alice   noticed by itself that it had been suspended, 20ms after the thaw",
		"after the thaw (SIGCONT) at",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, text)
		}
	}
	var svg bytes.Buffer
	if err := res.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"frozen (SIGSTOP)", "noticed by itself", ">noticed<", "network fault outside the app: blackhole"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("the picture lacks %q", want)
		}
	}
}

// An app that never notices the thaw is never repaired: the expectation
// fails, as the client the issue describes would.
func TestRunnerThawUnnoticed(t *testing.T) {
	t.Parallel()
	res, _ := playFrozen(t, freezeScript, 0)
	var failed []int
	for _, f := range res.Failures {
		failed = append(failed, f.Line)
	}
	if len(failed) != 2 || failed[1] != 8 {
		t.Fatalf("failures %v, want the send while frozen and expect fresh\n%s", res.Failures, timeline(res))
	}
	if n := len(res.Summary.Repairs); n != 1 || res.Summary.Repairs[0].Done {
		t.Errorf("repairs %+v, want one never done", res.Summary.Repairs)
	}
}

var _ freezer = (*procAccount)(nil)
var _ driver.Event = note{}
