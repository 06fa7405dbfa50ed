package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// Defaults of the zero values of Env.
const (
	// DefaultTimeout bounds wait online, wait state and the waiting of
	// expectations without "within", and the start of the clients.
	DefaultTimeout = 20 * time.Second
	// DefaultProbeTimeout bounds alice's liveness probe on resume: shorter
	// than reconnect's default so that a black hole is found quickly.
	DefaultProbeTimeout = 2 * time.Second
	// DefaultBgWindow is the window of /bg without a duration: shorter
	// than an app's, to keep a demo short.
	DefaultBgWindow = time.Second
	// HibernationMargin is what wait hibernation waits beyond the server's
	// hibernation time, so that the server has surely dropped the stream.
	HibernationMargin = 1500 * time.Millisecond
)

// settle is how long expect delivered waits, once everything arrived, for
// a duplicate to show up.
const settle = 200 * time.Millisecond

// startSettle is how long the run waits once both clients are online.
const startSettle = 100 * time.Millisecond

// finalWait bounds the wait, after the last statement, for messages still
// on their way; logoutTimeout bounds each account's logout.
const (
	finalWait     = 3 * time.Second
	logoutTimeout = 3 * time.Second
)

var (
	// ErrNoServerControl is returned by Run for a script with server restart
	// or server kill when Env.Server is nil.
	ErrNoServerControl = errors.New("scenario: the script restarts the server, but the environment cannot (Env.Server is nil)")
	// ErrNoHibernation is returned by Run for a script with wait hibernation
	// when Env.Hibernation is not set.
	ErrNoHibernation = errors.New("scenario: the script waits for the hibernation time, but Env.Hibernation is not set")
	// ErrNoAppBinary is returned by Run for a script with freeze or thaw
	// when Env.AppBinary is not set.
	ErrNoAppBinary = errors.New("scenario: the script freezes alice's app, which needs it in a process of its own, but Env.AppBinary is not set")
)

// ServerControl restarts the server. *prosody.Server implements it.
type ServerControl interface {
	// Restart stops the server with sig (SIGTERM or SIGKILL) and starts it
	// again on the same address with the same data.
	Restart(ctx context.Context, sig os.Signal) error
}

// Account is an account's localpart and password.
type Account struct {
	User     string
	Password string
}

// Env is where a script runs: the server and the two accounts, and what
// watches the run.
type Env struct {
	// Addr is the server's c2s (STARTTLS) address, host:port.
	Addr string
	// Domain is the server's XMPP domain.
	Domain string
	// CAFile is a PEM file with the certificates to trust; "" trusts the
	// system roots.
	CAFile string
	// Alice is the account under test; its User defaults to "alice".
	Alice Account
	// Bob is the peer; its User defaults to "bob".
	Bob Account
	// Hibernation is the server's XEP-0198 hibernation time (how long it
	// keeps a stream resumable); wait hibernation needs it.
	Hibernation time.Duration
	// Server restarts the server (server restart, server kill); nil when
	// the runner cannot, and a script that needs it is refused.
	Server ServerControl
	// AppBinary is the path of an xmppbg binary. A script that freezes
	// alice's app (freeze, thaw) runs her as "AppBinary chat --json", a
	// process of her own that can really be stopped (SIGSTOP) and
	// continued (SIGCONT); other scripts run her in this process and do
	// not use it. `xmppbg demo` sets its own executable.
	AppBinary string
	// Timeout bounds waits without "within". Default DefaultTimeout.
	Timeout time.Duration
	// ProbeTimeout bounds alice's liveness probes. Default
	// DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Detect, when set, runs a suspension detector for alice with these
	// options (driver.Config.Detect): a suspension of the whole process
	// that nobody announced makes her probe and repair her connection, and
	// is recorded ("woke"). Nil: none.
	Detect *suspend.DetectorOptions
	// OnEntry, when set, receives each timeline entry as it is recorded,
	// one at a time, in the order recorded (which can differ from time
	// order by a few microseconds between alice and bob). It must not
	// block for long.
	OnEntry func(Entry)
	// Logger receives the clients' diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Run runs the script against the server of env: it starts alice (a
// driver.Driver in a simulated app with the script's policy) and bob (a
// driver.Driver that is never suspended), waits until both are online, runs
// the statements in order, records the timeline and checks the expectations.
// At the end, it waits for messages still on their way, logs both accounts
// out and stops them.
//
// A failed expectation or a statement that cannot be carried out is
// recorded in the Result and the run goes on. The returned error is for a
// run that could not start or was cut short (the clients could not log in,
// one stopped for good, ctx ended); the Result is then what was recorded so
// far, or nil when nothing ran.
func Run(ctx context.Context, env Env, s *Script) (*Result, error) {
	if env.Addr == "" || env.Domain == "" {
		return nil, errors.New("scenario: Env.Addr and Env.Domain are required")
	}
	if env.Alice.Password == "" || env.Bob.Password == "" {
		return nil, errors.New("scenario: the accounts' passwords are required")
	}
	env = env.withDefaults()
	if err := env.check(s); err != nil {
		return nil, err
	}
	r := newRunner(env, s)

	aliceAddr := env.Addr
	if s.needsServer(serverDown, serverUp) || s.needs(kNetwork) {
		p, err := faultproxy.Start(env.Addr)
		if err != nil {
			return nil, fmt.Errorf("scenario: starting the fault proxy: %w", err)
		}
		defer p.Close()
		r.faults = p
		aliceAddr = p.Addr()
	}
	tlsCfg, err := session.TLSConfig(env.Domain, env.CAFile, false)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	backoff := reconnect.Backoff{Initial: 250 * time.Millisecond, Max: 2 * time.Second}
	for _, sd := range r.sides() {
		acct, addr, policy := env.Bob, env.Addr, suspend.PolicyDetach
		var detect *suspend.DetectorOptions
		if sd == r.alice {
			acct, addr, policy, detect = env.Alice, aliceAddr, s.Policy, env.Detect
			if s.needs(kFreeze, kThaw) {
				sd.acct = newProcAccount(env.AppBinary, sd.jid, acct.Password, addr, env.CAFile,
					sd.peer.jid, policy, env.ProbeTimeout, r.emitter(sd))
				continue
			}
		}
		d, err := driver.New(driver.Config{
			Session: session.Config{
				JID: sd.jid, Password: acct.Password, Addr: addr, TLS: tlsCfg.Clone(),
				Logger: env.Logger,
			},
			Policy:       policy,
			BgWindow:     DefaultBgWindow,
			ProbeTimeout: env.ProbeTimeout,
			Backoff:      backoff,
			Peer:         sd.peer.jid,
			Detect:       detect,
			OnEvent:      r.emitter(sd),
			Logger:       env.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		sd.acct = driverAccount{d}
	}
	return r.play(ctx)
}

// withDefaults fills in the zero values of env.
func (env Env) withDefaults() Env {
	if env.Alice.User == "" {
		env.Alice.User = "alice"
	}
	if env.Bob.User == "" {
		env.Bob.User = "bob"
	}
	if env.Timeout <= 0 {
		env.Timeout = DefaultTimeout
	}
	if env.ProbeTimeout <= 0 {
		env.ProbeTimeout = DefaultProbeTimeout
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	return env
}

// check refuses a script that needs what env does not have.
func (env Env) check(s *Script) error {
	if s.needsServer(serverRestart, serverKill) && env.Server == nil {
		return ErrNoServerControl
	}
	if s.needs(kWaitHibernation) && env.Hibernation <= 0 {
		return ErrNoHibernation
	}
	if s.needs(kFreeze, kThaw) && env.AppBinary == "" {
		return ErrNoAppBinary
	}
	return nil
}

// runner plays one script. Its statements run on the goroutine of play;
// the accounts' events arrive on theirs, through onEvent.
type runner struct {
	env    Env
	script *Script
	start  time.Time
	alice  *side
	bob    *side
	faults faults        // nil unless the script takes the server down
	wake   chan struct{} // signalled after each event and when an account stops

	mu           sync.Mutex // guards the fields below and the sides' ledgers
	entries      []Entry
	failures     []Failure
	expectations int
	failed       int
	dupDropped   int
	repairs      []*Repair
	duration     time.Duration
	ended        bool // the story is over: events are no longer recorded
}

// side is one account.
type side struct {
	name string
	jid  string
	acct account
	peer *side
	done chan struct{} // closed when the account's Run returned

	// Guarded by runner.mu.
	flow   *flow // messages from this side to its peer
	count  int   // numbered messages sent so far
	runErr error
	online bool // a first login happened

	job chan struct{} // the background sender (send … every), closed when done
}

// newRunner prepares a run of s in env (with its defaults); the accounts
// are set by the caller (Run, or a test), with emitter as their OnEvent.
func newRunner(env Env, s *Script) *runner {
	r := &runner{
		env:    env,
		script: s,
		alice:  &side{name: "alice", jid: env.Alice.User + "@" + env.Domain, flow: newFlow()},
		bob:    &side{name: "bob", jid: env.Bob.User + "@" + env.Domain, flow: newFlow()},
		wake:   make(chan struct{}, 1),
		start:  time.Now(),
	}
	r.alice.peer, r.bob.peer = r.bob, r.alice
	return r
}

func (r *runner) sides() []*side { return []*side{r.alice, r.bob} }

// emitter returns the event callback of sd's account.
func (r *runner) emitter(sd *side) func(driver.Event) {
	return func(e driver.Event) { r.onEvent(sd, e) }
}

// play runs both accounts and the script, stops them and returns the
// result.
func (r *runner) play(ctx context.Context) (*Result, error) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, sd := range r.sides() {
		sd.done = make(chan struct{})
		wg.Go(func() {
			defer close(sd.done)
			err := sd.acct.Run(runCtx)
			r.mu.Lock()
			sd.runErr = err
			r.mu.Unlock()
			r.signal()
		})
	}
	err := r.setup(ctx)
	if err == nil {
		err = r.run(ctx)
	}
	r.mu.Lock()
	r.ended = true // what logging out and stopping cause is not part of the story
	r.duration = time.Since(r.start)
	r.mu.Unlock()
	r.logout()
	cancel()
	wg.Wait()
	return r.result(), err
}

// signal wakes the waiter.
func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// waitUntil waits until cond holds, d passes or ctx ends; it reports
// whether cond held. cond is checked again after every event.
func (r *runner) waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return cond()
		case <-r.wake:
		}
	}
}

// locked returns cond run under r.mu.
func (r *runner) locked(cond func() bool) func() bool {
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return cond()
	}
}

// sleep waits d or until ctx ends.
func (r *runner) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// stopped returns the error of an account whose Run has returned.
func (r *runner) stopped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sd := range r.sides() {
		select {
		case <-sd.done:
			err := sd.runErr
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("scenario: %s stopped: %w", sd.name, err)
		default:
		}
	}
	return nil
}

func (r *runner) anyStopped() bool {
	select {
	case <-r.alice.done:
		return true
	case <-r.bob.done:
		return true
	default:
		return false
	}
}

// bothOnline reports whether both accounts are online.
func (r *runner) bothOnline() bool {
	return r.alice.acct.Status() == reconnect.Online && r.bob.acct.Status() == reconnect.Online
}

// setup waits until both accounts are online.
func (r *runner) setup(ctx context.Context) error {
	ok := r.waitUntil(ctx, r.env.Timeout, func() bool { return r.anyStopped() || r.bothOnline() })
	if err := r.stopped(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("scenario: alice (%s) and bob (%s) not both online within %v",
			r.alice.acct.Status(), r.bob.acct.Status(), r.env.Timeout)
	}
	// Let the server process both initial presences: a message that
	// overtook one would go to offline storage.
	r.sleep(ctx, startSettle)
	return nil
}

// run runs the statements, then waits for what is still on its way.
func (r *runner) run(ctx context.Context) error {
	for i := range r.script.Statements {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.stopped(); err != nil {
			return err
		}
		r.exec(ctx, &r.script.Statements[i])
	}
	// Background senders, then the last messages.
	for _, sd := range r.sides() {
		r.waitJob(ctx, sd)
	}
	if r.bothOnline() {
		r.waitUntil(ctx, finalWait, r.locked(r.allDelivered))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.stopped()
}

// logout ends both streams cleanly when online, so that the server keeps no
// hibernating stream behind.
func (r *runner) logout() {
	// A frozen app is continued, so that it can log out.
	if f, ok := r.alice.acct.(freezer); ok && f.Frozen() {
		_ = f.Thaw()
	}
	// A background window still open would run the policy after the run.
	if a := r.alice.acct; a.AppState() == suspend.Background {
		_ = a.Foreground()
	}
	var wg sync.WaitGroup
	for _, sd := range r.sides() {
		if sd.acct.Status() != reconnect.Online || sd.acct.AppState() == suspend.Suspended {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), logoutTimeout)
			defer cancel()
			_ = sd.acct.Logout(ctx)
		})
	}
	wg.Wait()
}

// result builds the Result from what was recorded.
func (r *runner) result() *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{
		Name:     r.script.Name,
		Start:    r.start,
		Duration: r.duration,
		Entries:  append([]Entry(nil), r.entries...),
		Failures: append([]Failure(nil), r.failures...),
	}
	sort.SliceStable(res.Entries, func(i, j int) bool { return res.Entries[i].At < res.Entries[j].At })
	s := &res.Summary
	s.AliceToBob = r.alice.flow.summary("alice", "bob")
	s.BobToAlice = r.bob.flow.summary("bob", "alice")
	s.DuplicatesDropped = r.dupDropped
	for _, rep := range r.repairs {
		s.Repairs = append(s.Repairs, *rep)
		switch rep.Outcome {
		case "resumed":
			s.Resumed++
		case "fresh":
			s.Fresh++
		case "kept":
			s.Kept++
		}
	}
	s.Expectations, s.Failed = r.expectations, r.failed
	return res
}
