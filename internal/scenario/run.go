package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
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

var (
	// ErrNoServerControl is returned by Run for a script with server restart
	// or server kill when Env.Server is nil.
	ErrNoServerControl = errors.New("scenario: the script restarts the server, but the environment cannot (Env.Server is nil)")
	// ErrNoHibernation is returned by Run for a script with wait hibernation
	// when Env.Hibernation is not set.
	ErrNoHibernation = errors.New("scenario: the script waits for the hibernation time, but Env.Hibernation is not set")
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
	// Timeout bounds waits without "within". Default DefaultTimeout.
	Timeout time.Duration
	// ProbeTimeout bounds alice's liveness probes. Default
	// DefaultProbeTimeout.
	ProbeTimeout time.Duration
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
	if env.Alice.User == "" {
		env.Alice.User = "alice"
	}
	if env.Bob.User == "" {
		env.Bob.User = "bob"
	}
	if env.Alice.Password == "" || env.Bob.Password == "" {
		return nil, errors.New("scenario: the accounts' passwords are required")
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
	if s.needsServer(serverRestart, serverKill) && env.Server == nil {
		return nil, ErrNoServerControl
	}
	if s.needs(kWaitHibernation) && env.Hibernation <= 0 {
		return nil, ErrNoHibernation
	}

	r := &runner{
		env:    env,
		script: s,
		alice:  &side{name: "alice", jid: env.Alice.User + "@" + env.Domain},
		bob:    &side{name: "bob", jid: env.Bob.User + "@" + env.Domain},
		wake:   make(chan struct{}, 1),
	}
	r.alice.flow = &flow{seen: map[string]bool{}, got: map[string]int{}}
	r.bob.flow = &flow{seen: map[string]bool{}, got: map[string]int{}}
	r.alice.peer, r.bob.peer = r.bob, r.alice
	r.start = time.Now()

	aliceAddr := env.Addr
	if s.needsServer(serverDown, serverUp) {
		p, err := faultproxy.Start(env.Addr)
		if err != nil {
			return nil, fmt.Errorf("scenario: starting the fault proxy: %w", err)
		}
		defer p.Close()
		r.proxy = p
		aliceAddr = p.Addr()
	}
	tlsCfg, err := session.TLSConfig(env.Domain, env.CAFile, false)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	backoff := reconnect.Backoff{Initial: 250 * time.Millisecond, Max: 2 * time.Second}
	for _, sd := range []*side{r.alice, r.bob} {
		acct, addr, policy := env.Bob, env.Addr, suspend.PolicyDetach
		if sd == r.alice {
			acct, addr, policy = env.Alice, aliceAddr, s.Policy
		}
		sd.d, err = driver.New(driver.Config{
			Session: session.Config{
				JID: sd.jid, Password: acct.Password, Addr: addr, TLS: tlsCfg.Clone(),
				Logger: env.Logger,
			},
			Policy:       policy,
			BgWindow:     DefaultBgWindow,
			ProbeTimeout: env.ProbeTimeout,
			Backoff:      backoff,
			Peer:         sd.peer.jid,
			OnEvent:      func(e driver.Event) { r.onEvent(sd, e) },
			Logger:       env.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, sd := range []*side{r.alice, r.bob} {
		sd.done = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(sd.done)
			err := sd.d.Run(runCtx)
			r.mu.Lock()
			sd.runErr = err
			r.mu.Unlock()
			r.signal()
		}()
	}
	stop := func() {
		r.mu.Lock()
		r.ended = true // what logging out and stopping cause is not part of the story
		r.duration = time.Since(r.start)
		r.mu.Unlock()
		r.logout()
		cancel()
		wg.Wait()
	}

	err = r.setup(ctx)
	if err == nil {
		err = r.run(ctx)
	}
	stop()
	return r.result(), err
}

// side is one account.
type side struct {
	name string
	jid  string
	d    *driver.Driver
	peer *side
	done chan struct{}

	// Guarded by runner.mu.
	flow   *flow // messages from this side to its peer
	count  int   // numbered messages sent so far
	runErr error
	online bool // a first login happened

	job chan struct{} // the background sender (send … every), closed when done
}

// flow is the ledger of one direction, keyed by origin-id.
type flow struct {
	sent []string
	body map[string]string
	seen map[string]bool // sent
	got  map[string]int  // received by the peer's application
}

func (f *flow) addSent(key, body string) {
	if f.seen[key] {
		return
	}
	if f.body == nil {
		f.body = map[string]string{}
	}
	f.seen[key] = true
	f.body[key] = body
	f.sent = append(f.sent, key)
}

// distinct is the number of different messages received.
func (f *flow) distinct() int { return len(f.got) }

func (f *flow) missing() []string {
	var out []string
	for _, k := range f.sent {
		if f.got[k] == 0 {
			out = append(out, f.body[k])
		}
	}
	return out
}

func (f *flow) duplicated() []string {
	var out []string
	for _, k := range f.sent {
		if f.got[k] > 1 {
			out = append(out, fmt.Sprintf("%s (%d times)", f.body[k], f.got[k]))
		}
	}
	return out
}

type runner struct {
	env    Env
	script *Script
	start  time.Time
	alice  *side
	bob    *side
	proxy  *faultproxy.Proxy
	wake   chan struct{}

	mu           sync.Mutex
	entries      []Entry
	failures     []Failure
	expectations int
	failed       int
	dupDropped   int
	repairs      []*Repair
	duration     time.Duration
	ended        bool
}

// signal wakes a waiter.
func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// record adds an entry; r.mu must be held.
func (r *runner) recordLocked(e Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.At = e.Time.Sub(r.start)
	if e.At < 0 {
		e.At = 0
	}
	r.entries = append(r.entries, e)
	if r.env.OnEntry != nil {
		r.env.OnEntry(e)
	}
}

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
	bare := jid
	if i := strings.IndexByte(bare, '/'); i >= 0 {
		bare = bare[:i]
	}
	switch bare {
	case r.alice.jid:
		return "alice"
	case r.bob.jid:
		return "bob"
	}
	return jid
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

func bareOf(jid string) string {
	if i := strings.IndexByte(jid, '/'); i >= 0 {
		return jid[:i]
	}
	return jid
}

func key(m *session.Message) string {
	if m.OriginID != "" {
		return m.OriginID
	}
	return m.ID
}

// onEvent records a driver event of sd and keeps the ledger and the repairs.
func (r *runner) onEvent(sd *side, e driver.Event) {
	defer r.signal()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	ent := Entry{Who: sd.name, Name: e.Name, Time: e.At, State: e.State, Event: &e}
	ent.Text = e.Name
	switch e.Name {
	case "sent":
		m := e.Message
		if bareOf(m.To) == sd.peer.jid {
			sd.flow.addSent(key(m), m.Body)
			ent.ledger = true
		}
		ent.Text = fmt.Sprintf("sent %q to %s", m.Body, r.name(m.To))
		if e.Queued {
			ent.Text += " (queued until online)"
		}
	case "message":
		m := e.Message
		if bareOf(m.From) == sd.peer.jid {
			f := sd.peer.flow
			k := key(m)
			f.got[k]++
			ent.ledger = true
		}
		ent.Text = fmt.Sprintf("received %q from %s", m.Body, r.name(m.From))
		if m.Delayed() {
			ent.Text += " (delayed: held by the server)"
		}
	case "duplicate":
		r.dupDropped++
		ent.Text = fmt.Sprintf("dropped a duplicate of %q from %s", e.Message.Body, r.name(e.Message.From))
	case "acked":
		ent.Text = fmt.Sprintf("server acknowledged %s", plural(len(e.IDs), "message"))
	case "resent":
		ent.Text = fmt.Sprintf("resent %s", plural(len(e.IDs), "unacknowledged message"))
		if e.Delayed {
			ent.Text += " with a delay stamp (fresh session)"
		}
	case "retry":
		ent.Text = fmt.Sprintf("login attempt %d failed (%s); next in %s", e.Attempt, e.Text, fmtDur(e.Took))
	case "resumed":
		ent.Text = fmt.Sprintf("stream resumed (XEP-0198), login took %s", fmtDur(e.Took))
		if rep := r.openRepair(sd); rep != nil {
			rep.Outcome = "resumed"
			rep.Login = e.Took
		}
	case "dead":
		how := "a read or write failed"
		if e.ByProbe {
			how = fmt.Sprintf("probe, %s", fmtDur(e.Took))
		}
		ent.Text = fmt.Sprintf("connection dead (%s)", how)
		if e.Text != "" {
			ent.Text += ": " + e.Text
		}
		if sd == r.alice {
			rep := r.openRepair(sd)
			if rep == nil {
				r.repairs = append(r.repairs, &Repair{Cause: "dead", Start: e.At.Sub(r.start)})
			} else if rep.Cause == "resume" && rep.Dead == 0 {
				rep.Dead = e.At.Sub(r.start) - rep.Start
				rep.ByProbe = e.ByProbe
				what := "read or write error"
				if e.ByProbe {
					what = "probe"
				}
				ent.Text = fmt.Sprintf("dead detected %s after /resume (%s)", fmtDur(rep.Dead), what)
				if e.Text != "" {
					ent.Text += ": " + e.Text
				}
			}
		}
	case "state":
		ent.Text = "state " + e.State
		switch e.State {
		case "online":
			if e.Fresh {
				ent.Text += " (fresh session)"
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
				since := "after /resume"
				if rep.Cause == "dead" {
					since = "after the connection died"
				}
				ent.Text += fmt.Sprintf(": back %s %s, %s", fmtDur(rep.Took), since, outcomeText(rep.Outcome))
			}
			sd.online = true
		case "reconnecting":
			if sd == r.alice && sd.online && r.openRepair(sd) == nil {
				r.repairs = append(r.repairs, &Repair{Cause: "dead", Start: e.At.Sub(r.start)})
			}
		}
		if e.Text != "" {
			ent.Text += " (" + e.Text + ")"
		}
	case "lifecycle", "warning", "error":
		ent.Text = e.Name + ": " + e.Text
		if e.Name == "lifecycle" {
			ent.Text = e.Text
		}
	}
	r.recordLocked(ent)
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

// waitUntil waits until cond holds, d passes or ctx ends; it reports
// whether cond held.
func (r *runner) waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
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
		case <-tick.C:
		}
	}
}

func (r *runner) locked(f func() bool) func() bool {
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return f()
	}
}

// stopped returns the error of a client whose Run has returned.
func (r *runner) stopped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sd := range []*side{r.alice, r.bob} {
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

// setup waits until both clients are online.
func (r *runner) setup(ctx context.Context) error {
	ok := r.waitUntil(ctx, r.env.Timeout, func() bool {
		return r.stoppedQuiet() || r.alice.d.Client().Status() == reconnect.Online && r.bob.d.Client().Status() == reconnect.Online
	})
	if err := r.stopped(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("scenario: alice (%s) and bob (%s) not both online within %v",
			r.alice.d.Client().Status(), r.bob.d.Client().Status(), r.env.Timeout)
	}
	// Let the server process both initial presences: a message that
	// overtook one would go to offline storage.
	r.sleep(ctx, startSettle)
	return nil
}

func (r *runner) stoppedQuiet() bool {
	select {
	case <-r.alice.done:
		return true
	case <-r.bob.done:
		return true
	default:
		return false
	}
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
	for _, sd := range []*side{r.alice, r.bob} {
		r.waitJob(ctx, sd)
	}
	if r.alice.d.Client().Status() == reconnect.Online && r.bob.d.Client().Status() == reconnect.Online {
		r.waitUntil(ctx, 3*time.Second, r.locked(func() bool {
			return len(r.alice.flow.missing()) == 0 && len(r.bob.flow.missing()) == 0
		}))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.stopped()
}

// logout ends both streams cleanly when online, so that the server keeps no
// hibernating stream behind.
func (r *runner) logout() {
	// A background window still open would run the policy after the run.
	if app := r.alice.d.App(); app.State() == suspend.Background {
		_ = app.Resume()
	}
	var wg sync.WaitGroup
	for _, sd := range []*side{r.alice, r.bob} {
		if sd.d.Client().Status() != reconnect.Online || sd.d.App().State() == suspend.Suspended {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_ = sd.d.Client().Logout(ctx)
		}()
	}
	wg.Wait()
}

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
	default:
		if st.IsExpectation() {
			r.expect(ctx, st)
		}
	}
}

func (r *runner) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *runner) within(st *Statement) time.Duration {
	if st.dur > 0 {
		return st.dur
	}
	return r.env.Timeout
}

func (r *runner) chat(ctx context.Context, st *Statement) {
	a := r.alice.d
	c := st.cmd
	c.To = r.resolve(c.To)
	switch c.Name {
	case "send":
		// As Exec does, but the ledger learns of the message before the
		// event (which comes on another goroutine) arrives.
		if a.App().State() == suspend.Suspended {
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
	case "resume":
		from := a.App().State()
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
				r.repairs = slicesDelete(r.repairs, rep)
			}
			r.failLocked(st, err.Error())
			r.mu.Unlock()
		}
		return
	}
	out, err := a.Exec(ctx, c)
	if err != nil {
		r.fail(st, err.Error())
		return
	}
	if out != "" {
		name := "status"
		if c.Name == "to" {
			name = "lifecycle"
		}
		r.record(Entry{Who: "alice", Name: name, Text: out})
	}
}

func slicesDelete(reps []*Repair, rep *Repair) []*Repair {
	for i, x := range reps {
		if x == rep {
			return append(reps[:i], reps[i+1:]...)
		}
	}
	return reps
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
		if sd == r.alice && sd.d.App().State() == suspend.Suspended {
			r.fail(st, fmt.Sprintf("alice is suspended: a suspended app runs no code; %s not sent", plural(st.n-i, "message")))
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
	m, err := sd.d.Send(ctx, to, body)
	if err != nil {
		return fmt.Errorf("sending %q: %w", body, err)
	}
	if bareOf(to) == sd.peer.jid {
		r.mu.Lock()
		sd.flow.addSent(key(&m), m.Body)
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

func (r *runner) waitState(ctx context.Context, st *Statement) {
	a := r.alice.d
	ok := r.waitUntil(ctx, r.within(st), func() bool {
		return a.App().State().String() == st.state || a.Client().Status().String() == st.state
	})
	if !ok && ctx.Err() == nil {
		r.fail(st, fmt.Sprintf("not %s within %v (app %s, connection %s)", st.state, r.within(st), a.App().State(), a.Client().Status()))
	}
}

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
		err = r.proxy.Down()
	case serverUp:
		r.record(Entry{Who: "server", Name: "server", Text: "reachable again"})
		err = r.proxy.Up()
	}
	if err != nil {
		r.fail(st, err.Error())
	}
}

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

func (r *runner) check(ctx context.Context, st *Statement) (bool, string) {
	switch st.kind {
	case kExpectReceived, kExpectPeerReceived:
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

	case kExpectResumed, kExpectFresh, kExpectKept:
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

	case kExpectDelivered:
		jobs := r.within(st)
		for _, sd := range []*side{r.alice, r.bob} {
			r.waitJob(ctx, sd)
		}
		all := r.locked(func() bool { return len(r.alice.flow.missing()) == 0 && len(r.bob.flow.missing()) == 0 })
		if r.waitUntil(ctx, jobs, all) {
			r.sleep(ctx, settle)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		var problems []string
		for _, sd := range []*side{r.alice, r.bob} {
			f := sd.flow
			if m := f.missing(); len(m) > 0 {
				problems = append(problems, fmt.Sprintf("%s never got %s: %s", sd.peer.name, plural(len(m), "message"), list(m)))
			}
			if d := f.duplicated(); len(d) > 0 {
				problems = append(problems, fmt.Sprintf("%s got duplicates: %s", sd.peer.name, list(d)))
			}
		}
		if len(problems) > 0 {
			return false, strings.Join(problems, "; ")
		}
		return true, fmt.Sprintf("%d alice->bob and %d bob->alice, each exactly once", len(r.alice.flow.sent), len(r.bob.flow.sent))

	case kExpectNoDuplicates:
		r.mu.Lock()
		defer r.mu.Unlock()
		var problems []string
		for _, sd := range []*side{r.alice, r.bob} {
			if d := sd.flow.duplicated(); len(d) > 0 {
				problems = append(problems, fmt.Sprintf("%s got duplicates: %s", sd.peer.name, list(d)))
			}
		}
		if len(problems) > 0 {
			return false, strings.Join(problems, "; ")
		}
		return true, fmt.Sprintf("no message delivered twice (%s caught by de-duplication)", plural(r.dupDropped, "duplicate"))
	}
	return false, "not an expectation"
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

func (f *flow) summary(from, to string) Flow {
	fl := Flow{From: from, To: to, Sent: len(f.sent)}
	for k := range f.got {
		if !f.seen[k] {
			fl.Unexpected++
		}
	}
	for _, k := range f.sent {
		switch n := f.got[k]; {
		case n > 1:
			fl.Duplicated++
			fl.Delivered++
		case n == 1:
			fl.Delivered++
		}
	}
	fl.Lost = fl.Sent - fl.Delivered
	return fl
}
