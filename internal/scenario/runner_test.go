package scenario

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// fakeAccount is a scripted account: messages reach the peer after latency
// and are acknowledged after twice that; a suspended app holds what it
// sends (queued); /resume repairs the connection as repair says. It runs
// in a synctest bubble, so its timers cost no real time.
type fakeAccount struct {
	jid     string
	emit    func(driver.Event)
	peer    *fakeAccount
	latency time.Duration
	// copies is how many times each message reaches the peer's
	// application (0: lost, 2: duplicated); -1 means 1.
	copies int
	// repair says how /resume from a suspension ends: "resumed" after
	// login, "fresh" (a dead probe, then a new session), "kept".
	repair string
	login  time.Duration

	mu     sync.Mutex // guards the fields below and serialises emit
	app    suspend.State
	status reconnect.Status
	queue  []session.Message
	seq    int
	gen    int // the background window's generation
}

func (a *fakeAccount) send(e driver.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.emit(e)
}

func stamp() driver.Stamp { return driver.Stamp{At: time.Now()} }

func (a *fakeAccount) setStatus(s reconnect.Status, e driver.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status = s
	a.emit(e)
}

func (a *fakeAccount) setApp(s suspend.State, e driver.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.app = s
	if s == suspend.Suspended {
		a.status = reconnect.Suspended
	}
	if e != nil {
		a.emit(e)
	}
}

func (a *fakeAccount) Run(ctx context.Context) error {
	a.setStatus(reconnect.Connecting, driver.StateChanged{Stamp: stamp(), State: driver.Connecting})
	time.Sleep(30 * time.Millisecond) // the login
	a.setStatus(reconnect.Online, driver.StateChanged{Stamp: stamp(), State: driver.Online})
	<-ctx.Done()
	a.setStatus(reconnect.Offline, driver.StateChanged{Stamp: stamp(), State: driver.Offline, Err: ctx.Err()})
	return ctx.Err()
}

func (a *fakeAccount) Send(ctx context.Context, to, body string) (session.Message, error) {
	a.mu.Lock()
	a.seq++
	id := fmt.Sprintf("%s-%d", strings.SplitN(a.jid, "@", 2)[0], a.seq)
	m := session.Message{ID: id, OriginID: id, From: a.jid + "/fake", To: to, Type: "chat", Body: body}
	online := a.status == reconnect.Online && a.app != suspend.Suspended
	if !online {
		a.queue = append(a.queue, m)
	}
	a.mu.Unlock()
	a.send(driver.Sent{Stamp: stamp(), Message: m, Queued: !online})
	if online {
		a.transmit(m)
	}
	return m, nil
}

// transmit delivers m to the peer and acknowledges it, later.
func (a *fakeAccount) transmit(m session.Message) {
	copies := a.copies
	if copies < 0 {
		copies = 1
	}
	time.AfterFunc(a.latency, func() {
		for range copies {
			a.peer.send(driver.Received{Stamp: stamp(), Message: m})
		}
	})
	time.AfterFunc(2*a.latency, func() { a.send(driver.Acked{Stamp: stamp(), IDs: []string{m.ID}}) })
}

func (a *fakeAccount) Exec(ctx context.Context, c driver.Command) (string, error) {
	switch c.Op {
	case driver.OpBg:
		w := c.Window
		if w == 0 {
			w = DefaultBgWindow
		}
		a.mu.Lock()
		a.gen++
		gen := a.gen
		a.mu.Unlock()
		a.setApp(suspend.Background, driver.StateChanged{Stamp: stamp(), State: driver.Background})
		time.AfterFunc(w, func() {
			a.mu.Lock()
			stale := a.gen != gen || a.app != suspend.Background
			a.mu.Unlock()
			if stale {
				return
			}
			a.send(driver.Lifecycle{Stamp: stamp(), Step: suspend.WindowExpired{Window: w}})
			a.setApp(suspend.Suspended, driver.StateChanged{Stamp: stamp(), State: driver.Suspended})
		})
	case driver.OpSuspend:
		a.setApp(suspend.Suspended, driver.StateChanged{Stamp: stamp(), State: driver.Suspended})
	case driver.OpResume:
		a.mu.Lock()
		from := a.app
		a.gen++
		a.mu.Unlock()
		a.setApp(suspend.Active, nil)
		if from == suspend.Suspended {
			go a.repairConn()
		}
	case driver.OpTear:
		a.send(driver.Lifecycle{Stamp: stamp(), Step: suspend.FaultInjected{Fault: c.Fault}})
	case driver.OpTo:
		return "talking to " + c.To, nil
	case driver.OpStatus:
		return "app " + a.AppState().String(), nil
	}
	return "", nil
}

// repairConn plays the repair after /resume.
func (a *fakeAccount) repairConn() {
	a.setStatus(reconnect.Resuming, driver.StateChanged{Stamp: stamp(), State: driver.Resuming})
	t0 := time.Now()
	switch a.repair {
	case "kept":
		time.Sleep(5 * time.Millisecond)
	case "fresh":
		time.Sleep(DefaultProbeTimeout)
		a.send(driver.Dead{Stamp: stamp(), ByProbe: true, Took: DefaultProbeTimeout, Err: fmt.Errorf("probe timed out")})
		a.setStatus(reconnect.Reconnecting, driver.StateChanged{Stamp: stamp(), State: driver.Reconnecting})
		time.Sleep(a.login)
		a.send(driver.Warning{Stamp: stamp(), Reason: driver.WarnResumeSkipped, Skip: session.ResumeSkipExpired, Detail: session.ResumeSkipExpired.String()})
	default:
		time.Sleep(a.login)
		a.send(driver.Resumed{Stamp: stamp(), Login: a.login, Attempt: 1})
	}
	a.mu.Lock()
	a.status = reconnect.Online
	a.emit(driver.StateChanged{Stamp: stamp(), State: driver.Online, Fresh: a.repair == "fresh", SinceResume: time.Since(t0)})
	queue := a.queue
	a.queue = nil
	a.mu.Unlock()
	for _, m := range queue {
		a.send(driver.Sent{Stamp: stamp(), Message: m})
		a.transmit(m)
	}
}

func (a *fakeAccount) Peer() string { return a.peer.jid }

func (a *fakeAccount) AppState() suspend.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.app
}

func (a *fakeAccount) Status() reconnect.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *fakeAccount) Foreground() error {
	a.setApp(suspend.Active, nil)
	return nil
}

func (a *fakeAccount) Logout(ctx context.Context) error {
	a.setStatus(reconnect.Offline, driver.StateChanged{Stamp: stamp(), State: driver.Offline})
	return nil
}

// fakeFaults counts server down and up and the network faults.
type fakeFaults struct{ down, up, rst, blackhole int }

func (f *fakeFaults) Down() error          { f.down++; return nil }
func (f *fakeFaults) Up() error            { f.up++; return nil }
func (f *fakeFaults) ResetPeer() error     { f.rst++; return nil }
func (f *fakeFaults) BlackholeLive() error { f.blackhole++; return nil }

// play runs script against fake accounts made by setup, in a synctest
// bubble, and returns the result and how long it took in fake time.
func play(t *testing.T, script string, setup func(alice, bob *fakeAccount)) (*Result, time.Duration) {
	t.Helper()
	s, err := Parse("test.scn", strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	var (
		res  *Result
		took time.Duration
	)
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(Env{Domain: "example.org", Hibernation: 5 * time.Second}.withDefaults(), s)
		alice := &fakeAccount{jid: r.alice.jid, emit: r.emitter(r.alice), latency: 10 * time.Millisecond, copies: -1, login: 50 * time.Millisecond, app: suspend.Active}
		bob := &fakeAccount{jid: r.bob.jid, emit: r.emitter(r.bob), latency: 10 * time.Millisecond, copies: -1, login: 50 * time.Millisecond, app: suspend.Active}
		alice.peer, bob.peer = bob, alice
		if setup != nil {
			setup(alice, bob)
		}
		r.alice.acct, r.bob.acct = alice, bob
		r.faults = &fakeFaults{}
		start := time.Now()
		var err error
		res, err = r.play(t.Context())
		took = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
	})
	return res, took
}

func timeline(res *Result) string {
	var b strings.Builder
	_ = res.WriteText(&b)
	return b.String()
}

func TestRunnerExpectationsMet(t *testing.T) {
	t.Parallel()
	start := time.Now()
	res, took := play(t, `
peer send 2
send 3
expect received 2
expect peer received 3
expect delivered
/bg 300ms
wait state suspended
peer send 2
wait 500ms
/resume
expect resumed within 1s
expect delivered
expect no duplicates
`, nil)
	if !res.Passed() {
		t.Fatalf("failed: %v\n%s", res.Failures, timeline(res))
	}
	if real := time.Since(start); real > 2*time.Second {
		t.Errorf("took %v of real time", real)
	}
	s := res.Summary
	if s.Expectations != 6 || s.Failed != 0 {
		t.Errorf("expectations %d, failed %d", s.Expectations, s.Failed)
	}
	if s.AliceToBob.Sent != 3 || s.AliceToBob.Delivered != 3 || s.BobToAlice.Sent != 4 || s.BobToAlice.Delivered != 4 {
		t.Errorf("flows %+v %+v", s.AliceToBob, s.BobToAlice)
	}
	if len(s.Repairs) != 1 || s.Repairs[0].Outcome != "resumed" || s.Repairs[0].Login != 50*time.Millisecond {
		t.Errorf("repairs %+v", s.Repairs)
	}
	// Fake time: the waits of the script and the repair, no more (the
	// settle of expect delivered, twice, and the start).
	if took < 800*time.Millisecond || took > 2*time.Second {
		t.Errorf("the run took %v of fake time", took)
	}
}

func TestRunnerExpectationsFailed(t *testing.T) {
	t.Parallel()
	res, _ := play(t, `
send 2
expect received 1 within 1s
expect peer received 1 within 1s
/suspend
/resume
expect fresh within 1s
`, nil)
	if res.Passed() || res.Summary.Failed != 3 || res.Summary.Expectations != 3 {
		t.Fatalf("failures %v, summary %+v\n%s", res.Failures, res.Summary, timeline(res))
	}
	want := []string{
		"alice got only 0 of 1 messages from bob within 1s",
		"bob got 2 distinct messages from alice, more than expected",
		"the last repair was not fresh session: after /resume",
	}
	for i, f := range res.Failures {
		if !strings.HasPrefix(f.Reason, want[i]) {
			t.Errorf("failure %d: %q, want %q…", i, f.Reason, want[i])
		}
	}
}

// TestRunnerTiming checks the timing statements: a wait, a window that
// ends in a suspension, a repair slower than "within".
func TestRunnerTiming(t *testing.T) {
	t.Parallel()
	res, took := play(t, `
wait 2s
/bg 1s
wait state suspended within 2s
wait state online within 100ms
/resume
expect fresh within 1s
wait hibernation
`, func(alice, bob *fakeAccount) { alice.repair, alice.login = "fresh", 300*time.Millisecond })
	// wait state online fails (suspended, 100ms); the fresh session takes
	// the 2s probe plus the login: more than 1s.
	if len(res.Failures) != 2 || res.Failures[0].Line != 5 || res.Failures[1].Line != 7 {
		t.Fatalf("failures %v\n%s", res.Failures, timeline(res))
	}
	if !strings.Contains(res.Failures[1].Reason, "took 2.30s, more than 1s") {
		t.Errorf("reason %q", res.Failures[1].Reason)
	}
	rep := res.Summary.Repairs[0]
	if rep.Dead != DefaultProbeTimeout || !rep.ByProbe || rep.Took != DefaultProbeTimeout+300*time.Millisecond {
		t.Errorf("repair %+v", rep)
	}
	// 2s + 1s window + 100ms + 2.3s repair + 5s + 1.5s hibernation, and
	// the start.
	if want := 2*time.Second + time.Second + 100*time.Millisecond + 2300*time.Millisecond + 6500*time.Millisecond; took < want || took > want+500*time.Millisecond {
		t.Errorf("took %v of fake time, want about %v", took, want)
	}
}

// TestRunnerLedger checks that the ledger counts lost and duplicated
// messages.
func TestRunnerLedger(t *testing.T) {
	t.Parallel()
	res, _ := play(t, `
send 2
peer send 3
expect delivered within 1s
`, func(alice, bob *fakeAccount) { alice.copies, bob.copies = 0, 2 })
	s := res.Summary
	if s.AliceToBob.Sent != 2 || s.AliceToBob.Lost != 2 || s.AliceToBob.Delivered != 0 {
		t.Errorf("alice -> bob %+v", s.AliceToBob)
	}
	if s.BobToAlice.Sent != 3 || s.BobToAlice.Duplicated != 3 || s.BobToAlice.Lost != 0 {
		t.Errorf("bob -> alice %+v", s.BobToAlice)
	}
	if len(res.Failures) != 1 {
		t.Fatalf("failures %v", res.Failures)
	}
	want := "bob never got 2 messages: alice #1, alice #2; alice got duplicates: bob #1 (2 times), bob #2 (2 times), bob #3 (2 times)"
	if res.Failures[0].Reason != want {
		t.Errorf("reason %q, want %q", res.Failures[0].Reason, want)
	}
}

// TestRunnerServerDown checks that server down and up reach the fault
// switch, and that a statement that cannot be carried out is a failure.
func TestRunnerServerDown(t *testing.T) {
	t.Parallel()
	res, _ := play(t, `
server down
server up
/suspend
send 1
/resume
expect kept within 1s
`, func(alice, bob *fakeAccount) { alice.repair = "kept" })
	if len(res.Failures) != 1 || res.Failures[0].Line != 5 || !strings.Contains(res.Failures[0].Reason, "alice is suspended") {
		t.Fatalf("failures %v\n%s", res.Failures, timeline(res))
	}
	if res.Summary.Kept != 1 {
		t.Errorf("summary %+v", res.Summary)
	}
}
