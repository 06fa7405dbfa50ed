//go:build unix

package soak_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/soak"
	"github.com/xmppbg/xmppbg/internal/toxic"
	"github.com/xmppbg/xmppbg/suspend"
)

var (
	cyclesFlag = flag.Int("soak.cycles", 0, "fault cycles of TestSoak, in all, spread over the servers (default: $XMPPBG_SOAK_CYCLES, else every kind once per server)")
	seedFlag   = flag.Uint64("soak.seed", 0, "seed of TestSoak's schedule (default: $XMPPBG_SOAK_SEED, else random)")
)

const (
	pw = "a long soak password"
	// hibernation is the server's stream resumption time: short, so that
	// a suspension can outlast it in a few seconds.
	hibernation = 2 * time.Second
	// sendEvery is each side's pace: about 50 messages a second each way.
	sendEvery = 20 * time.Millisecond
	// backTimeout bounds the wait for a client to be online again after a
	// fault.
	backTimeout = 60 * time.Second
)

// A kind of fault cycle. Each starts with both clients online and active and
// ends when they are online again.
type kind struct {
	name   string
	weight int // relative frequency in random draws
	run    func(r *rig) error
}

var kinds = []kind{
	// alice, in-process. A fault on a live, active connection: found by a
	// read or write error, or (blackhole) by the idle probe.
	{"alice: rst", 8, func(r *rig) error { return r.active(suspend.FaultRST) }},
	{"alice: reclaim", 8, func(r *rig) error { return r.active(suspend.FaultReclaim) }},
	{"alice: blackhole", 2, func(r *rig) error { return r.active(suspend.FaultBlackhole) }},
	// Suspensions shorter than the hibernation time, under each policy,
	// with each fault for the held connection.
	{"alice: hold", 4, func(r *rig) error { return r.suspension(suspend.PolicyHold, 0, r.short()) }},
	{"alice: hold+rst", 6, func(r *rig) error { return r.suspension(suspend.PolicyHold, suspend.FaultRST, r.short()) }},
	{"alice: hold+reclaim", 4, func(r *rig) error { return r.suspension(suspend.PolicyHold, suspend.FaultReclaim, r.short()) }},
	{"alice: hold+blackhole", 2, func(r *rig) error {
		return r.suspension(suspend.PolicyHold, suspend.FaultBlackhole, r.short())
	}},
	{"alice: detach", 6, func(r *rig) error { return r.suspension(suspend.PolicyDetach, 0, r.short()) }},
	{"alice: close", 3, func(r *rig) error { return r.suspension(suspend.PolicyClose, 0, r.short()) }},
	// Suspensions longer than the hibernation time: the server gives the
	// stream up, and what it held goes to offline storage.
	{"alice: detach, longer than hibernation", 1, func(r *rig) error {
		return r.suspension(suspend.PolicyDetach, 0, r.long())
	}},
	{"alice: hold+rst, longer than hibernation", 1, func(r *rig) error {
		return r.suspension(suspend.PolicyHold, suspend.FaultRST, r.long())
	}},
	// Back before the background window ends: no policy runs.
	{"alice: background, back in time", 3, func(r *rig) error { return r.backInTime() }},

	// bob, the real process.
	{"bob: SIGKILL", 8, func(r *rig) error { return r.killLive() }},
	{"bob: SIGKILL during the next login", 3, func(r *rig) error { return r.killDuringLogin() }},
	{"bob: SIGKILL while suspended", 3, func(r *rig) error { return r.killSuspended() }},
	{"bob: SIGKILL with messages queued offline", 2, func(r *rig) error { return r.killOffline() }},
	{"bob: SIGSTOP, SIGCONT", 5, func(r *rig) error { return r.freeze(r.short(), 0) }},
	{"bob: SIGSTOP longer than hibernation", 1, func(r *rig) error { return r.freeze(r.long(), 0) }},
	{"bob: SIGSTOP, path RST, SIGCONT", 3, func(r *rig) error { return r.freeze(r.short(), pathRST) }},
	{"bob: SIGSTOP, path blackhole, SIGCONT", 2, func(r *rig) error { return r.freeze(r.short(), pathBlackhole) }},
	{"bob: path RST", 4, func(r *rig) error { return r.pathReset() }},
	{"bob: live path black-holed (a NAT lost the flow)", 2, func(r *rig) error { return r.natLost() }},
	{"bob: server unreachable", 2, func(r *rig) error { return r.unreachable() }},
	{"bob: /bg, /resume", 3, func(r *rig) error { return r.procBackground() }},

	// Hostile stanzas from mallory to alice or bob.
	{"hostile: " + hostiles[0].name, 2, func(r *rig) error { return r.sendHostile(hostiles[0]) }},
	{"hostile: " + hostiles[1].name, 2, func(r *rig) error { return r.sendHostile(hostiles[1]) }},
	{"hostile: " + hostiles[2].name, 2, func(r *rig) error { return r.sendHostile(hostiles[2]) }},

	// Server restarts: both clients lose their connections.
	{"server restart (SIGTERM)", 1, func(r *rig) error { return r.restart(syscall.SIGTERM) }},
	{"server restart (SIGKILL)", 1, func(r *rig) error { return r.restart(syscall.SIGKILL) }},
}

type rig struct {
	t     *testing.T
	srv   integration.Server
	proxy *toxic.Proxy // bob's path to the server
	led   *soak.Ledger
	rnd   *rand.Rand
	alice *side
	bob   *proc
	errs  atomic.Int64 // unexpected send errors

	mu          sync.Mutex
	counts      map[string]int
	poisonN     int
	poisonBody  map[string]string // by id
	skipReasons map[string]int
}

func (r *rig) short() time.Duration { return time.Duration(100+r.rnd.IntN(500)) * time.Millisecond }
func (r *rig) long() time.Duration {
	return hibernation + time.Duration(1200+r.rnd.IntN(500))*time.Millisecond
}

// restart stops the server with sig and starts it again.
func (r *rig) restart(sig syscall.Signal) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.srv.Restart(ctx, sig); err != nil {
		return err
	}
	at, _, ok := r.alice.ev.First(t0, 10*time.Second, isDead)
	if !ok {
		return fmt.Errorf("%s never saw its connection die", r.alice.name)
	}
	volatile := !r.srv.Caps().FailedHAfterSIGTERM
	r.led.Restarted(r.alice.name, at, sig, volatile)
	at, err := r.bob.waitEvent(t0, "dead connection", func(e map[string]any) bool { return e["event"] == "dead" })
	if err != nil {
		return err
	}
	r.led.Restarted(r.bob.name, at, sig, volatile)
	if err := r.alice.waitOnline(t0, true); err != nil {
		return err
	}
	return r.bob.waitState(at, "online")
}

// schedule draws n cycles: every kind once (when n allows), the rest by
// weight, shuffled.
func schedule(rnd *rand.Rand, n int) []kind {
	var out []kind
	if n >= len(kinds) {
		out = slices.Clone(kinds)
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	for len(out) < n {
		x := rnd.IntN(total)
		for _, k := range kinds {
			if x < k.weight {
				out = append(out, k)
				break
			}
			x -= k.weight
		}
	}
	rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func settings() (cycles int, seed uint64) {
	cycles = *cyclesFlag
	if cycles <= 0 {
		cycles, _ = strconv.Atoi(os.Getenv("XMPPBG_SOAK_CYCLES"))
	}
	seed = *seedFlag
	if seed == 0 {
		seed, _ = strconv.ParseUint(os.Getenv("XMPPBG_SOAK_SEED"), 10, 64)
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return cycles, seed
}

// TestSoak is the chaos soak (see the package documentation), on every
// server the harnesses know.
func TestSoak(t *testing.T) {
	total, seed := settings()
	servers := len(integration.Harnesses())
	cycles := len(kinds) // the short run: every kind once per server
	if total > 0 {
		cycles = max(1, (total+servers-1)/servers)
	}
	replay := fmt.Sprintf("XMPPBG_SOAK_SEED=%d", seed)
	if total > 0 {
		replay += fmt.Sprintf(" XMPPBG_SOAK_CYCLES=%d", total)
	}
	t.Logf("soak: %d cycles on each of %d servers, seed %d (replay with %s)", cycles, servers, seed, replay)
	bin := buildBinary(t)
	var (
		mu      sync.Mutex
		reports []string
	)
	integration.Each(t, integration.Options{
		Accounts:    map[string]string{"alice": pw, "bob": pw, "mallory": pw},
		Hibernation: hibernation,
		Restarts:    true,
	}, func(t *testing.T, srv integration.Server) {
		report := runSoak(t, srv, bin, cycles, seed)
		if t.Failed() {
			t.Logf("replay with %s go test -run 'TestSoak/%s' ./internal/soak", replay, srv.Name())
		}
		mu.Lock()
		reports = append(reports, report)
		mu.Unlock()
	})
	if path := os.Getenv("XMPPBG_SOAK_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(strings.Join(reports, "\n")), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// runSoak runs cycles fault cycles on srv and returns the Markdown report.
func runSoak(t *testing.T, srv integration.Server, bin string, cycles int, seed uint64) string {
	proxy, err := toxic.Start(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	r := &rig{
		t: t, srv: srv, proxy: proxy, led: soak.NewLedger(),
		rnd:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		counts: map[string]int{}, poisonBody: map[string]string{}, skipReasons: map[string]int{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	r.bob = &proc{
		r: r, name: "bob", jid: "bob@" + srv.Domain(), peerJID: "alice@" + srv.Domain(),
		bin: bin, dir: dir, stateFile: filepath.Join(dir, "bob.state"),
		env:  append(os.Environ(), "XMPPBG_PASSWORD="+pw),
		wake: make(chan struct{}, 1), policies: map[string]int{}, sentIDs: map[string]bool{}, accepted: map[int]bool{},
	}
	r.alice = r.startSide(ctx, "alice", "bob")
	if err := r.bob.start(); err != nil {
		t.Fatal(err)
	}
	defer r.bob.stop(t)

	stop := make(chan struct{})
	var senders sync.WaitGroup
	senders.Go(func() { r.alice.sendLoop(ctx, r, stop) })
	senders.Go(func() { r.bob.sendLoop(stop) })
	start := time.Now()
	plan := schedule(r.rnd, cycles)
	var timeline []string
	for i, k := range plan {
		t0 := time.Now()
		timeline = append(timeline, t0.Format("15:04:05.000")+" "+k.name)
		if err := k.run(r); err != nil {
			close(stop)
			senders.Wait()
			t.Fatalf("cycle %d (%s) on %s: %v\nledger so far: %v\ncycles:\n%s", i, k.name, srv.Name(), err, r.led.Summary(), strings.Join(timeline, "\n"))
		}
		r.counts[k.name]++
		if testing.Verbose() && (i+1)%100 == 0 {
			t.Logf("%s: %d cycles in %v: %v", srv.Name(), i+1, time.Since(start).Round(time.Second), r.led.Summary())
		}
		r.alice.ev.Trim(t0)
		r.bob.trim(t0)
		time.Sleep(time.Duration(50+r.rnd.IntN(150)) * time.Millisecond)
	}
	close(stop)
	senders.Wait()
	faults := time.Since(start)

	// Drain: everything sent must arrive. A message stored offline while
	// its receiver was already online again waits for the next fresh login:
	// if anything is missing after a while, both clients log in afresh (as
	// a user reopening the app later would), and what arrives then is
	// counted as late.
	drain := func(timeout time.Duration) bool {
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if r.led.Missing() == 0 && r.alice.settled() && r.bob.settled() {
				return true
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false
	}
	finalLogin := false
	if !drain(20 * time.Second) {
		finalLogin = true
		r.led.Final()
		if err := r.alice.relogin(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.bob.relogin(); err != nil {
			t.Fatal(err)
		}
		drain(20 * time.Second)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	sum := r.led.Summary()
	report := r.report(t, seed, plan, faults, finalLogin, sum)

	if sum.Failed() {
		t.Errorf("ledger: %v\n%s\ncycles:\n%s", sum, strings.Join(sum.Detail, "\n"), strings.Join(timeline, "\n"))
	}
	if n := r.errs.Load(); n > 0 {
		t.Errorf("%d unexpected send errors", n)
	}
	return report
}

func (r *rig) report(t *testing.T, seed uint64, plan []kind, took time.Duration, finalLogin bool, sum soak.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n%d fault cycles in %v (seed %d), resumption time %v, each side sending every %v.\n\n", r.srv.Name(), len(plan), took.Round(time.Second), seed, r.srv.Hibernation(), sendEvery)
	fmt.Fprintf(&b, "| cycle kind | count |\n|---|---|\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d |\n", k.name, r.counts[k.name])
	}
	fmt.Fprintf(&b, "\n| ledger | count |\n|---|---|\n")
	for _, row := range []struct {
		name string
		n    int
	}{
		{"messages sent (both ways)", sum.Sent},
		{"delivered exactly once", sum.Delivered},
		{"duplicated (delivered twice or more)", sum.Duplicated},
		{"lost (client failure)", sum.Lost},
		{"lost by the server's restart (acknowledged, then SIGKILL, or SIGTERM of a server that keeps its queues in memory)", sum.LostByCrash},
		{"live order violations", sum.OrderViolations},
		{"late (stored or resent, carrying a delay)", sum.Late},
		{"first delivered with a delay", sum.Delayed},
		{"first delivered only after the final fresh login", sum.Final},
		{"duplicates dropped by the receiving session (origin-id)", sum.Dropped},
		{"delivered again (same id) to a restarted process: the last message printed before SIGKILL, not yet saved", sum.RedeliveredAfterKill},
		{"typed into the process, which was killed before reporting them sent", sum.InDoubt},
		{"… of which delivered (once)", sum.InDoubtDelivered},
		{"typed into a live process and never reported sent", sum.Unaccepted},
		{"delivered but never sent", sum.Unsent},
		{"hostile stanzas sent", sum.PoisonSent},
		{"… skipped and reported by the receiver", sum.PoisonSkipped},
		{"… delivered intact", sum.PoisonDelivered},
		{"… not relayed by the server (expected)", sum.PoisonNotRelayed},
		{"… swallowed silently, repeated, altered", sum.PoisonSilent + sum.PoisonRepeated + sum.PoisonDamaged},
	} {
		fmt.Fprintf(&b, "| %s | %d |\n", row.name, row.n)
	}
	a, p := r.alice, r.bob
	p.mu.Lock()
	fmt.Fprintf(&b, "\n| client | resumed | fresh logins | dead connections | other |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %s (in-process) | %d | %d | %d | stanzas resent %d, iq failed %d |\n", a.name, a.resumed.Load(), a.fresh.Load(), a.dead.Load(), a.resent.Load(), a.failed.Load())
	fmt.Fprintf(&b, "| %s (process) | %d | %d | %d | processes started %d, killed %d, frozen %d; messages found accepted in a killed process's state file before it reported them %d; lines reported sent again under a new id %d; policies %v |\n", p.name, p.resumed, p.fresh, p.dead, p.starts, p.kills, p.stops, p.fromState, p.newIDs, p.policies)
	p.mu.Unlock()
	r.mu.Lock()
	if len(r.skipReasons) > 0 {
		fmt.Fprintf(&b, "\nSkipped stanzas by reason: %v.\n", r.skipReasons)
	}
	r.mu.Unlock()
	if finalLogin {
		fmt.Fprintf(&b, "\nSome messages had not arrived 20 s after the last cycle: both clients logged in afresh to collect offline storage.\n")
	}
	t.Logf("\n%s", b.String())
	return b.String()
}
