package suspend_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// fakeSup is a Supervisor that records its calls with the fake time since
// the test began.
type fakeSup struct {
	start time.Time

	mu        sync.Mutex
	calls     []string
	detachErr error
	activeErr error
	logout    func(ctx context.Context) error // default: return nil
	onUnpause func() string                   // what to note about Unpause
}

func newFakeSup() *fakeSup { return &fakeSup{start: time.Now()} }

func (s *fakeSup) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("%v %s", time.Since(s.start), fmt.Sprintf(format, args...)))
}

func (s *fakeSup) SetActive(active bool) error {
	s.note("SetActive(%v)", active)
	return s.activeErr
}

func (s *fakeSup) Detach() error {
	s.note("Detach")
	return s.detachErr
}

func (s *fakeSup) Logout(ctx context.Context) error {
	dl, _ := ctx.Deadline()
	s.note("Logout(deadline +%v)", dl.Sub(time.Now()))
	if s.logout != nil {
		return s.logout(ctx)
	}
	return nil
}

func (s *fakeSup) Pause() { s.note("Pause") }

func (s *fakeSup) Unpause() {
	if s.onUnpause != nil {
		s.note("Unpause %s", s.onUnpause())
		return
	}
	s.note("Unpause")
}

// want fails unless the calls so far are exactly want.
func (s *fakeSup) want(t *testing.T, want ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !reflect.DeepEqual(s.calls, want) && !(len(s.calls) == 0 && len(want) == 0) {
		t.Fatalf("supervisor calls:\n\t%s\nwant:\n\t%s", strings.Join(s.calls, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// eventLog records events as text, times relative to start.
type eventLog struct {
	start  time.Time
	mu     sync.Mutex
	events []string
}

func newEventLog() *eventLog { return &eventLog{start: time.Now()} }

func (l *eventLog) on(e suspend.Event) {
	var s string
	switch e := e.(type) {
	case suspend.StateChanged:
		s = fmt.Sprintf("%v %s->%s", e.At.Sub(l.start), e.From, e.To)
	case suspend.WindowExpired:
		s = fmt.Sprintf("expired %v", e.Window)
	case suspend.PolicyRan:
		s = fmt.Sprintf("policy %s: %v", e.Policy, e.Err)
	case suspend.CSISent:
		s = fmt.Sprintf("csi active=%v: %v", e.Active, e.Err)
	case suspend.FaultInjected:
		s = fmt.Sprintf("fault %s", e.Fault)
	default:
		s = fmt.Sprintf("%T", e)
	}
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

func (l *eventLog) want(t *testing.T, want ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !reflect.DeepEqual(l.events, want) {
		t.Fatalf("events:\n\t%s\nwant:\n\t%s", strings.Join(l.events, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func wantState(t *testing.T, a *suspend.App, want suspend.State) {
	t.Helper()
	if got := a.State(); got != want {
		t.Fatalf("state = %s, want %s", got, want)
	}
}

func TestNamesAndDefaults(t *testing.T) {
	if p := suspend.Policy(0); p != suspend.PolicyDetach || p.String() != "detach" {
		t.Errorf("zero Policy = %s, want detach", p)
	}
	for _, p := range []suspend.Policy{suspend.PolicyHold, suspend.PolicyDetach, suspend.PolicyClose} {
		got, err := suspend.ParsePolicy(strings.ToUpper(p.String()))
		if err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p, got, err)
		}
	}
	_, err := suspend.ParsePolicy("keep")
	if err == nil || !strings.Contains(err.Error(), "hold, detach, close") {
		t.Errorf("ParsePolicy(keep) error = %v, want one listing the policies", err)
	}
	names := fmt.Sprint(suspend.Active, suspend.Background, suspend.Suspended, suspend.State(0))
	if names != "active background suspended State(0)" {
		t.Errorf("state names: %s", names)
	}
}

func TestWindowExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup, log := newFakeSup(), newEventLog()
		a := suspend.New(sup, suspend.Options{OnEvent: log.on})
		wantState(t, a, suspend.Active)
		const window = 20 * time.Second
		if err := a.BeginBackgroundTask(window, func() { sup.note("expiration handler") }); err != nil {
			t.Fatal(err)
		}
		wantState(t, a, suspend.Background)

		time.Sleep(window - time.Nanosecond)
		synctest.Wait()
		wantState(t, a, suspend.Background)
		sup.want(t, "0s SetActive(false)")

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantState(t, a, suspend.Suspended)
		sup.want(t,
			"0s SetActive(false)",
			"20s expiration handler",
			"20s Detach",
			"20s Pause",
		)
		log.want(t,
			"0s active->background",
			"csi active=false: <nil>",
			"expired 20s",
			"policy detach: <nil>",
			"20s background->suspended",
		)

		time.Sleep(time.Minute)
		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
		wantState(t, a, suspend.Active)
		sup.want(t,
			"0s SetActive(false)",
			"20s expiration handler",
			"20s Detach",
			"20s Pause",
			"1m20s Unpause",
			"1m20s SetActive(true)",
		)
	})
}

func TestEndBackgroundTaskEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup, log := newFakeSup(), newEventLog()
		a := suspend.New(sup, suspend.Options{OnEvent: log.on})
		a.BeginBackgroundTask(20*time.Second, func() { sup.note("expiration handler") })
		time.Sleep(5 * time.Second)
		if err := a.EndBackgroundTask(); err != nil {
			t.Fatal(err)
		}
		wantState(t, a, suspend.Suspended)
		time.Sleep(time.Minute) // past the window: nothing more happens
		synctest.Wait()
		sup.want(t, "0s SetActive(false)", "5s Detach", "5s Pause")
		log.want(t,
			"0s active->background",
			"csi active=false: <nil>",
			"policy detach: <nil>",
			"5s background->suspended",
		)
	})
}

func TestResumeDuringBackgroundCancelsWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup, log := newFakeSup(), newEventLog()
		a := suspend.New(sup, suspend.Options{OnEvent: log.on})
		a.BeginBackgroundTask(20*time.Second, func() { sup.note("expiration handler") })
		time.Sleep(5 * time.Second)
		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
		wantState(t, a, suspend.Active)
		time.Sleep(time.Minute)
		synctest.Wait()
		wantState(t, a, suspend.Active)
		sup.want(t, "0s SetActive(false)", "5s SetActive(true)")
		log.want(t,
			"0s active->background",
			"csi active=false: <nil>",
			"5s background->active",
			"csi active=true: <nil>",
		)

		// A second background task gets its own window.
		a.BeginBackgroundTask(10*time.Second, nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		wantState(t, a, suspend.Suspended)
	})
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy suspend.Policy
		calls  []string
	}{
		{suspend.PolicyHold, []string{"0s SetActive(false)", "0s Pause"}},
		{suspend.PolicyDetach, []string{"0s SetActive(false)", "0s Detach", "0s Pause"}},
		{suspend.PolicyClose, []string{"0s SetActive(false)", "0s Logout(deadline +5s)", "0s Pause"}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sup, log := newFakeSup(), newEventLog()
				a := suspend.New(sup, suspend.Options{Policy: tc.policy, OnEvent: log.on})
				// From Active, Suspend is a window of length zero.
				if err := a.Suspend(); err != nil {
					t.Fatal(err)
				}
				wantState(t, a, suspend.Suspended)
				sup.want(t, tc.calls...)
				log.want(t,
					"0s active->background",
					"csi active=false: <nil>",
					"policy "+tc.policy.String()+": <nil>",
					"0s background->suspended",
				)
			})
		})
	}
}

func TestPolicyErrorStillSuspends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup, log := newFakeSup(), newEventLog()
		sup.detachErr = errors.New("no session")
		a := suspend.New(sup, suspend.Options{OnEvent: log.on})
		a.BeginBackgroundTask(time.Second, nil)
		time.Sleep(time.Second)
		synctest.Wait()
		wantState(t, a, suspend.Suspended)
		log.want(t,
			"0s active->background",
			"csi active=false: <nil>",
			"expired 1s",
			"policy detach: no session",
			"1s background->suspended",
		)
	})
}

func TestLogoutIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup, log := newFakeSup(), newEventLog()
		sup.logout = func(ctx context.Context) error {
			<-ctx.Done() // a server that never answers
			return ctx.Err()
		}
		a := suspend.New(sup, suspend.Options{Policy: suspend.PolicyClose, LogoutTimeout: 2 * time.Second, OnEvent: log.on})
		a.Suspend()
		wantState(t, a, suspend.Suspended)
		sup.want(t, "0s SetActive(false)", "0s Logout(deadline +2s)", "2s Pause")
		log.want(t,
			"0s active->background",
			"csi active=false: <nil>",
			"policy close: context deadline exceeded",
			"2s background->suspended",
		)
	})
}

func TestResumeOrderAndCSIError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup, log := newFakeSup(), newEventLog()
		a := suspend.New(sup, suspend.Options{Policy: suspend.PolicyHold, OnEvent: log.on})
		app, _ := dialPipe(t, a)
		sup.onUnpause = func() string { return fmt.Sprintf("(frozen=%v)", suspend.Frozen(app)) }
		a.Suspend()
		if !suspend.Frozen(app) {
			t.Fatal("the connection is not frozen")
		}
		time.Sleep(time.Hour)
		sup.activeErr = errors.New("offline")
		if err := a.Resume(); err != nil {
			t.Fatalf("Resume = %v; a SetActive error is no Resume error", err)
		}
		sup.want(t, "0s SetActive(false)", "0s Pause", "1h0m0s Unpause (frozen=false)", "1h0m0s SetActive(true)")
		log.want(t,
			"0s active->background",
			"csi active=false: <nil>",
			"policy hold: <nil>",
			"0s background->suspended",
			"1h0m0s suspended->active",
			"csi active=true: offline",
		)
	})
}

func TestInvalidTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := newFakeSup()
		a := suspend.New(sup, suspend.Options{})
		check := func(err error, want string) {
			t.Helper()
			if !errors.Is(err, suspend.ErrTransition) || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want ErrTransition saying %q", err, want)
			}
		}
		check(a.Resume(), "Resume while active (want background or suspended)")
		check(a.EndBackgroundTask(), "EndBackgroundTask while active (want background)")
		if err := a.BeginBackgroundTask(-time.Second, nil); err == nil {
			t.Error("a negative window was accepted")
		}
		a.BeginBackgroundTask(time.Minute, nil)
		check(a.BeginBackgroundTask(time.Minute, nil), "BeginBackgroundTask while background (want active)")
		a.Suspend()
		check(a.Suspend(), "Suspend while suspended (want active or background)")
		check(a.EndBackgroundTask(), "EndBackgroundTask while suspended")
		check(a.BeginBackgroundTask(time.Minute, nil), "BeginBackgroundTask while suspended")
		if err := a.Inject(suspend.FaultRST); !errors.Is(err, suspend.ErrNoConn) {
			t.Errorf("Inject without a connection = %v, want ErrNoConn", err)
		}
		wantState(t, a, suspend.Suspended)
		sup.want(t, "0s SetActive(false)", "0s Detach", "0s Pause")
	})
}

func TestExpirationHandlerMayEndTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := newFakeSup()
		a := suspend.New(sup, suspend.Options{})
		a.BeginBackgroundTask(time.Second, func() {
			sup.note("expiration handler")
			if err := a.EndBackgroundTask(); err != nil {
				t.Error(err)
			}
			sup.note("task ended")
		})
		time.Sleep(time.Second)
		synctest.Wait()
		wantState(t, a, suspend.Suspended)
		sup.want(t, "0s SetActive(false)", "1s expiration handler", "1s Detach", "1s Pause", "1s task ended")
	})
}

func TestOnEventMayCallApp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := newFakeSup()
		var a *suspend.App
		a = suspend.New(sup, suspend.Options{OnEvent: func(e suspend.Event) {
			if e, ok := e.(suspend.StateChanged); ok && e.To == suspend.Suspended {
				if err := a.Resume(); err != nil {
					t.Error(err)
				}
			}
		}})
		a.Suspend()
		wantState(t, a, suspend.Active)
		sup.want(t, "0s SetActive(false)", "0s Detach", "0s Pause", "0s Unpause", "0s SetActive(true)")
	})
}

// dialPipe dials through the app's dialer a net.Pipe: it returns the app's
// end and the peer's.
func dialPipe(t *testing.T, a *suspend.App) (*suspend.Conn, net.Conn) {
	t.Helper()
	var peer net.Conn
	dial := a.Dial(func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		c, peer = net.Pipe()
		return c, nil
	})
	c, err := dial(context.Background(), "tcp", "example.org:5222")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	return c.(*suspend.Conn), peer
}

func TestNoIOWhileSuspended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := newFakeSup()
		a := suspend.New(sup, suspend.Options{Policy: suspend.PolicyHold})
		app, peer := dialPipe(t, a)
		got := readAsync(app)
		synctest.Wait()

		if err := a.Suspend(); err != nil {
			t.Fatal(err)
		}
		// From the moment Suspend returns, nothing is in the socket.
		if suspend.InIO(app) != 0 {
			t.Fatal("a Read is still in the socket after Suspend returned")
		}
		peerSent := writeAsync(peer, "hello")
		sent := writeAsync(app, "world")
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, got, "Read while suspended")
		pending(t, sent, "Write while suspended")
		pending(t, peerSent, "peer's Write")
		if _, err := a.Dial(nil)(context.Background(), "tcp", "example.org:5222"); !errors.Is(err, suspend.ErrSuspended) {
			t.Fatalf("Dial while suspended = %v, want ErrSuspended", err)
		}

		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
		if r := <-got; r.data != "hello" || r.err != nil {
			t.Fatalf("Read after Resume = %q, %v", r.data, r.err)
		}
		peerGot := readAsync(peer)
		if r := <-peerGot; r.data != "world" {
			t.Fatalf("peer read %q, %v", r.data, r.err)
		}
		<-sent
		<-peerSent
	})
}

func TestDialCompletingDuringSuspensionIsFrozen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := suspend.New(newFakeSup(), suspend.Options{})
		release := make(chan struct{})
		var peer net.Conn
		dial := a.Dial(func(ctx context.Context, network, addr string) (net.Conn, error) {
			<-release // the handshake is under way
			var c net.Conn
			c, peer = net.Pipe()
			return c, nil
		})
		type dialed struct {
			c   net.Conn
			err error
		}
		done := make(chan dialed, 1)
		go func() {
			c, err := dial(context.Background(), "tcp", "example.org:5222")
			done <- dialed{c, err}
		}()
		synctest.Wait()
		a.Suspend()
		close(release)
		d := <-done
		if d.err != nil {
			t.Fatal(d.err)
		}
		defer d.c.Close()
		defer peer.Close()
		if !suspend.Frozen(d.c.(*suspend.Conn)) {
			t.Fatal("a connection completed during the suspension is not frozen")
		}
		a.Resume()
		if suspend.Frozen(d.c.(*suspend.Conn)) {
			t.Fatal("Resume did not thaw it")
		}
	})
}

func TestInjectHitsCurrentConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newEventLog()
		a := suspend.New(newFakeSup(), suspend.Options{Policy: suspend.PolicyHold, OnEvent: log.on})
		first, _ := dialPipe(t, a)
		second, _ := dialPipe(t, a)
		if err := a.Inject(suspend.FaultBlackhole); err != nil {
			t.Fatal(err)
		}
		if first.Fault() != 0 || second.Fault() != suspend.FaultBlackhole {
			t.Fatalf("faults: first %v, second %v; want the latest conn faulted", first.Fault(), second.Fault())
		}
		second.Close()
		if err := a.Inject(suspend.FaultRST); err != nil {
			t.Fatal(err)
		}
		if first.Fault() != suspend.FaultRST {
			t.Fatalf("after the latest closed, Inject hit %v", first.Fault())
		}
		first.Close()
		if err := a.Inject(suspend.FaultRST); !errors.Is(err, suspend.ErrNoConn) {
			t.Fatalf("Inject with every conn closed = %v, want ErrNoConn", err)
		}
		log.want(t, "fault blackhole", "fault rst")
	})
}

func TestFaultWhileSuspendedSeenAtResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := newFakeSup()
		a := suspend.New(sup, suspend.Options{Policy: suspend.PolicyHold})
		app, _ := dialPipe(t, a)
		got := readAsync(app)
		synctest.Wait()
		a.BeginBackgroundTask(30*time.Second, nil)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		wantState(t, a, suspend.Suspended)
		time.Sleep(10 * time.Minute)
		if err := a.Inject(suspend.FaultReclaim); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		pending(t, got, "Read while suspended")
		a.Resume()
		wantClosed(t, (<-got).err)
	})
}
