package reconnect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// fakeConn stands in for a session. Its probe answers according to probe:
// nil answers at once, ErrProbeTimeout stays silent until the timeout, any
// other error is returned at once.
type fakeConn struct {
	mu       sync.Mutex
	done     chan struct{}
	err      error
	resumed  bool
	probe    error
	probes   int
	sent     []string
	detached bool
	closed   bool
	active   []bool
	onEvent  func(session.Event) // the client's, as a session gets it
}

func newFakeConn() *fakeConn { return &fakeConn{done: make(chan struct{})} }

func (f *fakeConn) Done() <-chan struct{} { return f.done }
func (f *fakeConn) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
func (f *fakeConn) JID() string           { return "alice@example.org/fake" }
func (f *fakeConn) Login() session.Login  { return session.Login{Resumed: f.resumed, SM: true} }
func (f *fakeConn) State() *session.State { return &session.State{} }
func (f *fakeConn) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
		close(f.done)
	}
}
func (f *fakeConn) SendMessage(ctx context.Context, m session.Message) (session.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return m, session.ErrClosed
	}
	if err := session.CheckSize(m, "alice@example.org", 0); err != nil {
		return m, err // as a session refuses it
	}
	f.sent = append(f.sent, m.Body)
	if f.onEvent != nil {
		f.onEvent(session.Sent{Message: m}) // as a session reports it
	}
	return m, nil
}
func (f *fakeConn) Probe(ctx context.Context, timeout time.Duration) error {
	f.mu.Lock()
	f.probes++
	p := f.probe
	f.mu.Unlock()
	if errors.Is(p, session.ErrProbeTimeout) {
		select {
		case <-time.After(timeout):
			return session.ErrProbeTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p
}
func (f *fakeConn) Detach() error {
	f.mu.Lock()
	f.detached = true
	f.mu.Unlock()
	f.end(session.ErrDetached)
	return nil
}
func (f *fakeConn) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.end(session.ErrClosed)
	return nil
}
func (f *fakeConn) Abort() { f.end(&session.ConnError{Op: "read", Err: errors.New("aborted")}) }
func (f *fakeConn) SetActive(a bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active = append(f.active, a)
	return nil
}
func (f *fakeConn) probeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes
}

func (f *fakeConn) sentBodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// server scripts the outcome of each login attempt and records when it came.
type server struct {
	mu       sync.Mutex
	attempts []time.Duration
	start    time.Time
	fail     func(n int) error // nil: succeed
	conns    []*fakeConn
	next     func(*fakeConn)
}

func (s *server) connect(ctx context.Context, cfg session.Config, st *session.State) (reconnect.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, time.Since(s.start))
	if s.fail != nil {
		if err := s.fail(len(s.attempts)); err != nil {
			return nil, err
		}
	}
	c := newFakeConn()
	c.onEvent = cfg.OnEvent
	if s.next != nil {
		s.next(c)
	}
	s.conns = append(s.conns, c)
	return c, nil
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.attempts)
}

func (s *server) last() *fakeConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return nil
	}
	return s.conns[len(s.conns)-1]
}

type events struct {
	mu sync.Mutex
	ev []reconnect.Event
}

func (e *events) on(ev reconnect.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

// eventsOf returns the events of type E so far, in order.
func eventsOf[E reconnect.Event](e *events) []E {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []E
	for _, ev := range e.ev {
		if x, ok := ev.(E); ok {
			out = append(out, x)
		}
	}
	return out
}

func (e *events) states() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.ev {
		if s, ok := ev.(reconnect.StatusChanged); ok {
			out = append(out, s.Status.String())
		}
	}
	return out
}

var errDown = &session.ConnError{Op: "dial", Err: errors.New("connection refused")}

// downFor is a server.fail whose first k logins fail as if the server were
// down (errDown), and the others succeed.
func downFor(k int) func(n int) error {
	return func(n int) error {
		if n <= k {
			return errDown
		}
		return nil
	}
}

// newClient returns a client on srv with deterministic jitter (the longest
// delay the schedule allows).
func newClient(srv *server, ev *events, cfg reconnect.Config) *reconnect.Client {
	srv.start = time.Now()
	if ev != nil {
		cfg.OnEvent = ev.on
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := reconnect.New(cfg)
	c.SetConnect(srv.connect)
	c.SetRand(func(n int64) int64 { return n - 1 })
	return c
}

func run(t *testing.T, c *reconnect.Client) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	return func() error {
		cancel()
		return <-errc
	}
}

// runOnline runs a client over srv with cfg, recording its events, until
// the end of the test, and returns once the bubble is idle: online after
// its first login when srv lets it in. Call it inside synctest.Test.
func runOnline(t *testing.T, srv *server, cfg reconnect.Config) (*reconnect.Client, *events) {
	t.Helper()
	ev := &events{}
	c := newClient(srv, ev, cfg)
	stop := run(t, c)
	t.Cleanup(func() { stop() })
	synctest.Wait()
	return c, ev
}

func TestBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: downFor(6)}
		c := newClient(srv, nil, reconnect.Config{Backoff: reconnect.Backoff{Initial: time.Second, Max: 4 * time.Second}})
		stop := run(t, c)
		time.Sleep(time.Minute)
		synctest.Wait()
		want := []time.Duration{0, 1, 3, 7, 11, 15, 19}
		if len(srv.attempts) != len(want) {
			t.Fatalf("attempts at %v, want %v seconds", srv.attempts, want)
		}
		for i, w := range want {
			if srv.attempts[i] != w*time.Second {
				t.Fatalf("attempts at %v, want %v seconds", srv.attempts, want)
			}
		}
		if c.Status() != reconnect.Online {
			t.Errorf("state %v after the server came back", c.Status())
		}
		stop()
	})
}

func TestJitterIsBoundedAndSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: func(int) error { return errDown }}
		c := reconnect.New(reconnect.Config{Logger: slog.New(slog.DiscardHandler), Backoff: reconnect.Backoff{Initial: time.Second, Max: 8 * time.Second, MinDelay: 100 * time.Millisecond}})
		c.SetConnect(srv.connect)
		srv.start = time.Now()
		stop := run(t, c)
		time.Sleep(10 * time.Minute)
		stop()
		prev := time.Duration(0)
		distinct := map[time.Duration]bool{}
		for i, at := range srv.attempts[1:] {
			gap := at - srv.attempts[i]
			if gap < 100*time.Millisecond || gap > 8*time.Second {
				t.Fatalf("gap %v outside [100ms, 8s]", gap)
			}
			distinct[gap] = true
			prev = at
		}
		_ = prev
		// No hot loop: at least 100ms between attempts; full jitter: the
		// delays differ.
		if n := len(srv.attempts); n > 10*60*10 || n < 10*60/8 {
			t.Errorf("%d attempts in 10 minutes", n)
		}
		if len(distinct) < len(srv.attempts)/2 {
			t.Errorf("only %d distinct delays in %d attempts: jitter is not spreading them", len(distinct), len(srv.attempts))
		}
	})
}

func TestBackoffResetsAfterLogin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: func(n int) error {
			if n == 1 || n == 2 || n == 4 {
				return errDown
			}
			return nil
		}}
		c := newClient(srv, nil, reconnect.Config{Backoff: reconnect.Backoff{Initial: time.Second, Max: time.Minute}})
		stop := run(t, c)
		time.Sleep(10 * time.Second) // attempts at 0, 1, 3: online
		synctest.Wait()
		first := srv.last()
		first.end(&session.ConnError{Op: "read", Err: errors.New("reset")})
		lostAt := time.Since(srv.start)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		stop()
		// After the loss: a first attempt after a random delay within the
		// initial interval, then the schedule from the start again.
		got := srv.attempts[3:]
		if len(got) != 2 || got[0]-lostAt != time.Second || got[1]-got[0] != 2*time.Second {
			t.Fatalf("attempts after the loss at %v: %v; want +1s, +2s", lostAt, got)
		}
	})
}

func TestGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: func(int) error { return errDown }}
		c := newClient(srv, nil, reconnect.Config{Backoff: reconnect.Backoff{Initial: time.Second, Max: 4 * time.Second, GiveUpAfter: 20 * time.Second}})
		start := time.Now()
		err := c.Run(context.Background())
		if !errors.Is(err, reconnect.ErrGaveUp) || !errors.Is(err, errDown) {
			t.Fatalf("Run = %v, want ErrGaveUp with the last error", err)
		}
		// It stops when the next delay would pass the bound: never later.
		if d := time.Since(start); d < 15*time.Second || d > 20*time.Second {
			t.Errorf("gave up after %v, want within the last interval before 20s", d)
		}
	})
}

func TestPermanentErrorsStop(t *testing.T) {
	for _, perm := range []error{
		&session.AuthError{Condition: "not-authorized"},
		&session.CertificateError{Err: errors.New("x509: unknown authority")},
		&session.StreamError{Condition: "conflict"},
		&session.StreamError{Condition: "policy-violation"},
		fmt.Errorf("%w: bad JID", session.ErrConfig),
		&session.ConnError{Op: "dial", Err: session.ErrNoService},
		&session.PersistError{Value: "disk full"}, // the application's Persist panicked
	} {
		t.Run(perm.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := &server{fail: func(int) error { return perm }}
				ev := &events{}
				c := newClient(srv, ev, reconnect.Config{})
				err := c.Run(context.Background())
				var pe *reconnect.PermanentError
				if !errors.As(err, &pe) || !errors.Is(err, perm) {
					t.Fatalf("Run = %v, want a PermanentError wrapping %v", err, perm)
				}
				if srv.count() != 1 {
					t.Errorf("%d attempts, want 1", srv.count())
				}
				if st := ev.states(); st[len(st)-1] != "offline" {
					t.Errorf("states %v, want offline last", st)
				}
			})
		})
	}
	// And a conflict on a running session stops the client too.
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c := newClient(srv, nil, reconnect.Config{})
		errc := make(chan error, 1)
		go func() { errc <- c.Run(context.Background()) }()
		synctest.Wait()
		srv.last().end(&session.StreamError{Condition: "conflict"})
		if err := <-errc; !reconnect.IsPermanent(errors.Unwrap(err)) {
			t.Fatalf("Run = %v", err)
		}
		if srv.count() != 1 {
			t.Errorf("%d attempts after a conflict, want 1", srv.count())
		}
	})
}

// Suspended means nothing happens: no login attempt, no probe, whatever the
// clock does.
func TestPauseStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, _ := runOnline(t, srv, reconnect.Config{IdleProbe: time.Minute})
		conn := srv.last()
		c.Pause()
		time.Sleep(time.Hour)
		synctest.Wait()
		if conn.probeCount() != 0 {
			t.Errorf("%d probes while suspended", conn.probeCount())
		}
		// Lost while suspended: still nothing until unpaused.
		conn.end(&session.ConnError{Op: "read", Err: errors.New("reset")})
		time.Sleep(time.Hour)
		synctest.Wait()
		if srv.count() != 1 {
			t.Fatalf("%d login attempts while suspended", srv.count())
		}
		c.Unpause()
		synctest.Wait()
		if srv.count() != 2 {
			t.Fatalf("no immediate login on unpause: %d attempts", srv.count())
		}
	})
}

// On resume a live-looking connection is probed; silence means dead after
// exactly the probe timeout, and the repair starts at once.
func TestProbeOnResume(t *testing.T) {
	for _, tc := range []struct {
		name      string
		probe     error
		detectIn  time.Duration
		reconnect bool
	}{
		{"alive", nil, 0, false},
		{"silent", session.ErrProbeTimeout, 3 * time.Second, true},
		{"broken", &session.ConnError{Op: "write", Err: errors.New("broken pipe")}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := &server{}
				c, ev := runOnline(t, srv, reconnect.Config{})
				conn := srv.last()
				c.Pause()
				time.Sleep(time.Minute)
				conn.mu.Lock()
				conn.probe = tc.probe
				conn.mu.Unlock()
				resumedAt := time.Now()
				c.Unpause()
				synctest.Wait()
				if !tc.reconnect {
					if srv.count() != 1 || c.Status() != reconnect.Online || conn.probeCount() != 1 {
						t.Fatalf("attempts %d, state %v, probes %d", srv.count(), c.Status(), conn.probeCount())
					}
					return
				}
				time.Sleep(tc.detectIn)
				synctest.Wait()
				if srv.count() != 2 {
					t.Fatalf("%d attempts %v after resume, want a new login at once after detection", srv.count(), time.Since(resumedAt))
				}
				if got := srv.attempts[1] - srv.attempts[0] - time.Minute; got != tc.detectIn {
					t.Errorf("repair started %v after resume, want %v", got, tc.detectIn)
				}
				var dead *reconnect.Dead
				for _, e := range ev.ev {
					if d, ok := e.(reconnect.Dead); ok {
						dead = &d
					}
				}
				if dead == nil || !dead.ByProbe || dead.Took != tc.detectIn {
					t.Errorf("Dead event = %+v", dead)
				}
			})
		})
	}
}

func TestIdleProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		runOnline(t, srv, reconnect.Config{IdleProbe: 5 * time.Minute, ProbeTimeout: 3 * time.Second})
		conn := srv.last()
		time.Sleep(5*time.Minute - time.Millisecond)
		synctest.Wait()
		if conn.probeCount() != 0 {
			t.Fatal("probed too early")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if conn.probeCount() != 1 {
			t.Fatalf("%d probes after the idle interval", conn.probeCount())
		}
		// A silent connection found by the idle probe is replaced.
		conn.mu.Lock()
		conn.probe = session.ErrProbeTimeout
		conn.mu.Unlock()
		time.Sleep(5*time.Minute + 3*time.Second)
		synctest.Wait()
		if srv.count() != 2 {
			t.Fatalf("%d attempts, want a reconnect after the silent idle probe", srv.count())
		}
	})
}

// Messages sent while offline wait, bounded, and go out in order before any
// new one once the session is up.
func TestOfflineQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: downFor(1)}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{QueueSize: 3, Backoff: reconnect.Backoff{Initial: 10 * time.Second}})
		stop := run(t, c)
		synctest.Wait()
		ctx := context.Background()
		for i := range 3 {
			if _, err := c.Send(ctx, "bob@example.org", fmt.Sprint("queued ", i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Send(ctx, "bob@example.org", "one too many"); !errors.Is(err, reconnect.ErrQueueFull) {
			t.Fatalf("Send on a full queue = %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, err := c.Send(ctx, "bob@example.org", "live"); err != nil {
			t.Fatal(err)
		}
		got := srv.last().sentBodies()
		want := []string{"queued 0", "queued 1", "queued 2", "live"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		stop()
	})
}

func TestDetachHoldsUntilUnpause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, ev := runOnline(t, srv, reconnect.Config{})
		conn := srv.last()
		if err := c.Detach(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if !conn.detached || srv.count() != 1 || c.Status() != reconnect.Offline {
			t.Fatalf("detached %t, attempts %d, state %v", conn.detached, srv.count(), c.Status())
		}
		c.Unpause()
		synctest.Wait()
		if srv.count() != 2 || c.Status() != reconnect.Online {
			t.Fatalf("after unpause: attempts %d, state %v", srv.count(), c.Status())
		}
		want := "connecting online offline resuming online"
		if got := fmt.Sprint(ev.states()); got != "["+want+"]" {
			t.Errorf("states %v, want [%s]", got, want)
		}
	})
}

func TestSetActiveKeptAcrossReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, _ := runOnline(t, srv, reconnect.Config{})
		if err := c.SetActive(false); err != nil {
			t.Fatal(err)
		}
		srv.last().end(&session.ConnError{Op: "read", Err: errors.New("reset")})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := srv.count(); n != 2 {
			t.Fatalf("%d attempts", n)
		}
		if a := srv.last().active; len(a) != 1 || a[0] {
			t.Errorf("new session told active=%v, want inactive", a)
		}
	})
}

// A Send before Run (or racing its start, as `go c.Run(ctx)` then Send does)
// keeps its Sent event: it is delivered once Run starts, before the
// message's own progress, and the race detector finds nothing to say.
func TestSendBeforeRunKeepsItsEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{})
		m, err := c.Send(context.Background(), "bob@example.org", "early")
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, c)
		_, err = c.Send(context.Background(), "bob@example.org", "racing Run")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		stop()
		ev.mu.Lock()
		defer ev.mu.Unlock()
		var sent []string
		for _, e := range ev.ev {
			if s, ok := e.(reconnect.Sent); ok {
				if len(sent) == 0 && (s.Message.ID != m.ID || !s.Queued) {
					t.Errorf("first Sent = %+v, want the queued message %s", s, m.ID)
				}
				sent = append(sent, s.Message.Body)
			}
		}
		// Queued (before Run), then written by the flush; the second is
		// queued or written depending on the race with the first login,
		// and reported at least once.
		if len(sent) < 3 || sent[0] != "early" {
			t.Fatalf("Sent events for %v, want early first and every message", sent)
		}
		if got := srv.last().sentBodies(); strings.Join(got, ",") != "early,racing Run" {
			t.Errorf("written %v, want both in order", got)
		}
	})
}

// A message Send accepted while offline is in the saved State before Send
// returns (its Outbox), so it survives the process; a client started from
// that State sends it first, in order, and the next copy saved no longer
// holds it (issue 11, item 7).
func TestOutboxSurvivesTheProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var saved *session.State
		persist := func(st *session.State) {
			mu.Lock()
			saved = st
			mu.Unlock()
		}
		last := func() *session.State {
			mu.Lock()
			defer mu.Unlock()
			return saved
		}
		down := &server{fail: func(int) error { return errDown }}
		c := newClient(down, nil, reconnect.Config{Persist: persist, Backoff: reconnect.Backoff{Initial: time.Second, Max: time.Second}})
		stop := run(t, c)
		for _, body := range []string{"one", "two"} {
			if _, err := c.Send(context.Background(), "bob@example.org", body); err != nil {
				t.Fatal(err)
			}
			if st := last(); st == nil || len(st.Outbox) == 0 || st.Outbox[len(st.Outbox)-1].Body != body {
				t.Fatalf("after Send(%q) the saved State is %+v, want it in the outbox", body, st)
			}
		}
		stop() // the process dies here, as far as the client knows

		up := &server{}
		st := last().Clone()
		c2 := newClient(up, nil, reconnect.Config{State: st, Persist: persist})
		if c2.Queued() != 2 {
			t.Fatalf("queued %d from the saved outbox, want 2", c2.Queued())
		}
		stop2 := run(t, c2)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := up.last().sentBodies(); strings.Join(got, ",") != "one,two" {
			t.Fatalf("sent %v, want one,two in order", got)
		}
		if st := last(); len(st.Outbox) != 0 || c2.Queued() != 0 {
			t.Fatalf("after the flush: saved outbox %d, queued %d; want none", len(st.Outbox), c2.Queued())
		}
		stop2()
	})
}

// A message above the size bound (session.CheckSize) is refused by Send,
// offline and online, and never queued: a server closes the connection on
// it, at every login. One already in a saved outbox (taken by an older
// version) is reported Failed at the flush and holds up none of the others.
func TestSendTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		big := strings.Repeat("x", session.DefaultMaxSendBytes)
		down := &server{fail: func(int) error { return errDown }}
		c := newClient(down, nil, reconnect.Config{Backoff: reconnect.Backoff{Initial: time.Second, Max: time.Second}})
		stop := run(t, c)
		if _, err := c.Send(context.Background(), "bob@example.org", big); !errors.Is(err, session.ErrTooLarge) || c.Queued() != 0 {
			t.Fatalf("offline: err %v, queued %d; want ErrTooLarge and nothing queued", err, c.Queued())
		}
		stop()

		up := &server{}
		ev := &events{}
		st := &session.State{Outbox: []session.Message{
			{ID: "m1", To: "bob@example.org", Body: "before"},
			{ID: "m2", To: "bob@example.org", Body: big},
			{ID: "m3", To: "bob@example.org", Body: "after"},
		}}
		c2 := newClient(up, ev, reconnect.Config{State: st})
		stop2 := run(t, c2)
		defer stop2()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := up.last().sentBodies(); strings.Join(got, ",") != "before,after" || c2.Queued() != 0 {
			t.Fatalf("flushed %v, queued %d; want before,after and nothing left", got, c2.Queued())
		}
		failed := eventsOf[reconnect.Failed](ev)
		if len(failed) != 1 || failed[0].Stanza.ID != "m2" || !strings.Contains(failed[0].Reason, "too large") {
			t.Fatalf("failed %+v, want m2 reported once", failed)
		}
		if _, err := c2.Send(context.Background(), "bob@example.org", big); !errors.Is(err, session.ErrTooLarge) || c2.Queued() != 0 {
			t.Fatalf("online: err %v, queued %d; want ErrTooLarge and nothing queued", err, c2.Queued())
		}
		if got := up.last().sentBodies(); len(got) != 2 {
			t.Fatalf("sent %d, want the two before", len(got))
		}
	})
}

// The client's own saves (the offline queue: a Send while offline, the
// save after the flush) call Config.Persist outside any session. One that
// panics there must end the client as a panic in a session's save does
// (a *session.PersistError, permanent), not unwind through Run or leave
// Send's message queued as if saved.
func TestPersistPanicInClientSaves(t *testing.T) {
	boom := errors.New("disk on fire")
	t.Run("send offline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			down := &server{fail: func(int) error { return errDown }}
			c := newClient(down, nil, reconnect.Config{
				Persist: func(*session.State) { panic(boom) },
				Backoff: reconnect.Backoff{Initial: time.Second, Max: time.Second},
			})
			stop := run(t, c)
			defer stop()
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						err = fmt.Errorf("Send panicked: %v", v)
					}
				}()
				_, err = c.Send(context.Background(), "bob@example.org", "hi")
			}()
			var pe *session.PersistError
			if !errors.As(err, &pe) || !errors.Is(err, boom) || c.Queued() != 0 {
				t.Fatalf("Send: %v, queued %d; want a *session.PersistError and nothing queued", err, c.Queued())
			}
		})
	})
	t.Run("flush", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			up := &server{}
			st := &session.State{Outbox: []session.Message{{ID: "m1", To: "bob@example.org", Body: "queued"}}}
			c := newClient(up, nil, reconnect.Config{State: st, Persist: func(*session.State) { panic(boom) }})
			errc := make(chan error, 1)
			go func() {
				defer func() {
					if v := recover(); v != nil {
						errc <- fmt.Errorf("Run panicked: %v", v)
					}
				}()
				errc <- c.Run(context.Background())
			}()
			synctest.Wait()
			select {
			case err := <-errc:
				var pe *session.PersistError
				var perm *reconnect.PermanentError
				if !errors.As(err, &perm) || !errors.As(err, &pe) || !errors.Is(err, boom) {
					t.Fatalf("Run: %v, want a *PermanentError wrapping a *session.PersistError", err)
				}
			default:
				t.Fatal("Run goes on after Persist panicked")
			}
		})
	})
}

// A session that refuses a message as too large (its bound counts with the
// JID the server bound, which may differ from the configured one by a few
// bytes) makes Send return the refusal: not queue the message for a flush
// that can only report it Failed at the next login.
func TestSendTooLargeForTheSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The fake session measures from alice@example.org, four bytes
		// longer than the configured JID.
		cfg := reconnect.Config{Session: session.Config{JID: "a@example.org"}}
		c, _ := runOnline(t, &server{}, cfg)
		body := ""
		for n := session.DefaultMaxSendBytes - 400; ; n++ {
			m := session.Message{ID: session.NewID(), To: "bob@example.org", Body: strings.Repeat("x", n)}
			m.OriginID = m.ID
			if session.CheckSize(m, "alice@example.org", 0) != nil {
				body = m.Body
				break
			}
		}
		_, err := c.Send(context.Background(), "bob@example.org", body)
		if !errors.Is(err, session.ErrTooLarge) || c.Queued() != 0 {
			t.Fatalf("Send: %v, queued %d; want ErrTooLarge and nothing queued", err, c.Queued())
		}
	})
}
