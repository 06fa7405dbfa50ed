package soak

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ledger records every numbered message of a soak, per direction: when it was
// sent, when the server acknowledged it to its sender (XEP-0198), and every
// time it was delivered to the receiving application. It also records server
// restarts, so that a loss can be blamed on a crash when that is the only
// explanation. Its methods are safe for concurrent use.
//
// A message given to a client process (typed on its input) is Typed first,
// and Sent once the process reports that it accepted it; when the process
// is killed in between, the message is InDoubt: it may or may not have been
// accepted, so it may arrive once or never, never twice.
//
// Hostile stanzas (Poison) are counted apart: each must be reported skipped
// by its receiver or delivered intact, exactly once, unless the server was
// expected not to relay it.
type Ledger struct {
	mu       sync.Mutex
	dirs     map[string]*direction // by sender
	restarts []Restart
	final    bool               // deliveries now happen in the final drain
	poison   map[string]*poison // by receiver and id
}

// poison is one hostile stanza.
type poison struct {
	to, id, kind string
	relayed      bool // the server is expected to pass it on
	sent         bool
	skipped      int
	delivered    int
	damaged      int
}

// Restart is a server restart, as one sender saw it: the signal that stopped
// the server and when the sender learnt that its connection was dead. Every
// acknowledgement the sender recorded before then came from the server that
// was stopped (a client's events come in order).
type Restart struct {
	From string
	At   time.Time
	Sig  syscall.Signal
	// Volatile says that the server lost what it held in memory across
	// this stop: always after SIGKILL; after SIGTERM too for a server that
	// keeps its stream state in memory only (integration.Caps'
	// FailedHAfterSIGTERM unset: ejabberd drops the queues of the sessions
	// it closes with system-shutdown).
	Volatile bool
}

type direction struct {
	msgs    []*msg
	byID    map[string]int
	pending map[string]time.Time // acks seen before Sent recorded the message
	order   []delivery
	dropped int // duplicates the receiving session dropped (session.Duplicate)
}

type msg struct {
	id        string
	typed     bool // given to a process that had not reported it accepted
	doubt     bool // typed, then the process died before reporting it
	sent      time.Time
	acked     time.Time
	delivered int
	at        []time.Time // when each delivery was recorded (the first few)
	delayed   bool
	final     bool // first delivered during the final drain
	// redelivered counts deliveries again, with the same stanza id, by a
	// receiving process started after the one that printed it last was
	// killed before it could save that it had (see Redelivered).
	redelivered int
}

type delivery struct {
	n       int
	delayed bool
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{dirs: map[string]*direction{}, poison: map[string]*poison{}}
}

func (l *Ledger) dir(from string) *direction {
	d := l.dirs[from]
	if d == nil {
		d = &direction{byID: map[string]int{}, pending: map[string]time.Time{}}
		l.dirs[from] = d
	}
	return d
}

// get returns the record of message n, creating it if needed: a delivery or
// an acknowledgement can be seen before Sent records the message.
func (d *direction) get(n int) *msg {
	for len(d.msgs) <= n {
		d.msgs = append(d.msgs, nil)
	}
	if d.msgs[n] == nil {
		d.msgs[n] = &msg{}
	}
	return d.msgs[n]
}

// Sent records that from sent message n (numbers start at 0 and have no
// gaps) with stanza id id.
func (l *Ledger) Sent(from string, n int, id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.dir(from)
	m := d.get(n)
	m.id, m.sent = id, at
	d.byID[id] = n
	if a, ok := d.pending[id]; ok {
		m.acked = a
		delete(d.pending, id)
	}
}

// Typed records that message n from from was given to a client process,
// which has not reported yet whether it accepted it.
func (l *Ledger) Typed(from string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dir(from).get(n).typed = true
}

// InDoubt records that the process given message n from from died before it
// reported whether it accepted it: it may arrive once or never.
func (l *Ledger) InDoubt(from string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dir(from).get(n).doubt = true
}

// Acked records that the server acknowledged the stanzas with these ids to
// their sender from. Ids that are not numbered messages are ignored.
func (l *Ledger) Acked(from string, ids []string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.dir(from)
	for _, id := range ids {
		n, ok := d.byID[id]
		switch {
		case !ok:
			d.pending[id] = at // Sent not recorded yet, or not a numbered message
		case d.msgs[n].acked.IsZero():
			d.msgs[n].acked = at
		}
	}
}

// Delivered records that message n from from reached the receiving
// application; delayed says whether it carried a XEP-0203 delay. A delivery
// may be seen before Sent records the message; one that Sent never records is
// reported by Summary.
func (l *Ledger) Delivered(from string, n int, delayed bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 0 {
		return fmt.Errorf("soak: %s's message %d: bad number", from, n)
	}
	d := l.dir(from)
	m := d.get(n)
	m.delivered++
	if len(m.at) < 4 {
		m.at = append(m.at, time.Now())
	}
	if m.delivered == 1 {
		m.delayed = delayed
		m.final = l.final
	}
	d.order = append(d.order, delivery{n: n, delayed: delayed})
	return nil
}

// Redelivered records that message n from from was delivered again to a
// receiving process, with the same stanza id, after the process that
// delivered it was killed with SIGKILL right after doing so: the last
// message that process printed, before it could save that it had handled
// it (the server, told nothing, sends it again). A program reading the
// process's output sees it twice, with the same id. It is counted apart,
// at most one per kill, and is not a second delivery.
func (l *Ledger) Redelivered(from string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dir(from).get(n).redelivered++
}

// Dropped records a duplicate of a message from from that the receiving
// session recognised and did not deliver.
func (l *Ledger) Dropped(from string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dir(from).dropped++
}

// Restarted records a server restart as sender from saw it: at is when it
// learnt that its connection was dead; volatile, whether the server lost
// what it held in memory (see Restart). A SIGKILL is always volatile.
func (l *Ledger) Restarted(from string, at time.Time, sig syscall.Signal, volatile bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restarts = append(l.restarts, Restart{From: from, At: at, Sig: sig, Volatile: volatile || sig == syscall.SIGKILL})
}

// Final marks the start of the final drain: what is first delivered from now
// on is counted as late.
func (l *Ledger) Final() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.final = true
}

// Poison records a hostile stanza sent to to with id id; relayed says
// whether the server is expected to pass it on (see integration.Caps).
func (l *Ledger) Poison(to, id, kind string, relayed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.poisoned(to, id)
	p.kind, p.relayed, p.sent = kind, relayed, true
}

// PoisonSkipped records that to reported the hostile stanza id skipped.
func (l *Ledger) PoisonSkipped(to, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.poisoned(to, id).skipped++
}

// PoisonDelivered records that the hostile stanza id reached to's
// application; intact says whether it arrived as it was sent.
func (l *Ledger) PoisonDelivered(to, id string, intact bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.poisoned(to, id)
	p.delivered++
	if !intact {
		p.damaged++
	}
}

// PoisonSeen reports whether to reported or delivered the hostile stanza
// id.
func (l *Ledger) PoisonSeen(to, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.poisoned(to, id)
	return p.skipped+p.delivered > 0
}

func (l *Ledger) poisoned(to, id string) *poison {
	key := to + "\x00" + id
	p := l.poison[key]
	if p == nil {
		p = &poison{to: to, id: id}
		l.poison[key] = p
	}
	return p
}

// Missing returns how many messages have not been delivered yet, other than
// those a server crash explains, and how many hostile stanzas the server
// relays are not accounted for yet.
func (l *Ledger) Missing() int {
	s := l.Summary()
	return s.Lost + s.PoisonSilent + s.Unaccepted
}

// Summary is the outcome of a soak.
type Summary struct {
	// Sent counts the numbered messages sent, both ways.
	Sent int
	// Delivered counts those delivered exactly once.
	Delivered int
	// Duplicated counts those delivered more than once.
	Duplicated int
	// Lost counts those never delivered that no server crash explains: a
	// failure of the client.
	Lost int
	// LostByCrash counts those never delivered that the server had
	// acknowledged to their sender before a restart that lost what it
	// held in memory (a SIGKILL; a SIGTERM of ejabberd; see Restart and
	// BENCHMARKS.md).
	LostByCrash int
	// OrderViolations counts messages delivered live (without a delay)
	// after a live message sent later by the same sender: what XMPP's
	// in-order delivery forbids.
	OrderViolations int
	// Late counts messages delivered after a later message of the same
	// sender because they were stored or resent (they carry a delay):
	// allowed, reported.
	Late int
	// Delayed counts messages whose first delivery carried a delay
	// (offline storage, a server-side resumption queue, a resend after a
	// failed resumption).
	Delayed int
	// Final counts messages first delivered during the final drain (the
	// fresh login at the end).
	Final int
	// Dropped counts duplicates the receiving session dropped by origin-id
	// (never delivered to the application twice).
	Dropped int
	// Unsent counts messages delivered that were never sent: a receiver
	// inventing messages.
	Unsent int
	// InDoubt counts messages typed into a client process that was killed
	// before it reported them accepted; InDoubtDelivered those of them
	// that arrived (once: a second delivery counts as Duplicated).
	InDoubt, InDoubtDelivered int
	// Unaccepted counts messages typed into a live process that never
	// reported them accepted: a process ignoring its input.
	Unaccepted int
	// RedeliveredAfterKill counts messages delivered again, same id, by a
	// receiving process after the one that printed them last was killed
	// before it saved its state (see Ledger.Redelivered).
	RedeliveredAfterKill int

	// PoisonSent counts hostile stanzas sent; PoisonSkipped those their
	// receiver reported skipped, PoisonDelivered those delivered intact,
	// PoisonNotRelayed those the server was expected to refuse and that
	// never came.
	PoisonSent, PoisonSkipped, PoisonDelivered, PoisonNotRelayed int
	// PoisonSilent counts hostile stanzas the server relays that were
	// neither reported nor delivered: swallowed silently. PoisonRepeated
	// counts those reported or delivered more than once, PoisonDamaged
	// those delivered altered, PoisonUnknown reports of stanzas never sent.
	PoisonSilent, PoisonRepeated, PoisonDamaged, PoisonUnknown int
	// Detail names a few lost or duplicated messages.
	Detail []string
}

// Summary tallies the ledger.
func (l *Ledger) Summary() Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s Summary
	names := make([]string, 0, len(l.dirs))
	for from := range l.dirs {
		names = append(names, from)
	}
	sort.Strings(names)
	for _, from := range names {
		d := l.dirs[from]
		s.Dropped += d.dropped
		for n, m := range d.msgs {
			if m == nil {
				continue
			}
			if m.id == "" {
				switch {
				case m.doubt:
					s.InDoubt++
					if m.delivered == 1 {
						s.InDoubtDelivered++
					} else if m.delivered > 1 {
						s.Duplicated++
						s.detail(fmt.Sprintf("%s #%d (in doubt) delivered %d times (at %s)", from, n, m.delivered, stamps(m.at)))
					}
				case m.typed && m.delivered == 0:
					s.Unaccepted++
					s.detail(fmt.Sprintf("%s #%d typed, never reported sent", from, n))
				default:
					s.Unsent++
					s.detail(fmt.Sprintf("%s #%d delivered %d times (at %s), never reported sent (typed %v)", from, n, m.delivered, stamps(m.at), m.typed))
				}
				continue
			}
			s.Sent++
			s.RedeliveredAfterKill += m.redelivered
			if m.redelivered > 0 && m.delivered != 1 {
				s.detail(fmt.Sprintf("%s #%d redelivered after a kill, but delivered %d times besides", from, n, m.delivered))
			}
			switch {
			case m.delivered == 1:
				s.Delivered++
			case m.delivered > 1:
				s.Duplicated++
				s.detail(fmt.Sprintf("%s #%d delivered %d times (at %s)", from, n, m.delivered, stamps(m.at)))
			case l.crashLost(from, m):
				s.LostByCrash++
			default:
				s.Lost++
				s.detail(fmt.Sprintf("%s #%d lost (sent %s, acked %s)", from, n, m.sent.Format("15:04:05.000"), stamp(m.acked)))
			}
			if m.delivered > 0 && m.delayed {
				s.Delayed++
			}
			if m.delivered > 0 && m.final {
				s.Final++
			}
		}
		lastLive, last := -1, -1
		seen := map[int]bool{}
		for _, dv := range d.order {
			if seen[dv.n] {
				continue // a duplicate, counted above
			}
			seen[dv.n] = true
			if dv.n < last {
				if dv.delayed {
					s.Late++
				} else if dv.n < lastLive {
					s.OrderViolations++
					s.detail(fmt.Sprintf("%s #%d delivered live after #%d", from, dv.n, lastLive))
				} else {
					s.Late++
				}
			}
			last = max(last, dv.n)
			if !dv.delayed {
				lastLive = max(lastLive, dv.n)
			}
		}
	}
	l.poisonSummary(&s)
	return s
}

func (l *Ledger) poisonSummary(s *Summary) {
	keys := make([]string, 0, len(l.poison))
	for k := range l.poison {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := l.poison[k]
		seen := p.skipped + p.delivered
		switch {
		case !p.sent:
			s.PoisonUnknown++
			s.detail(fmt.Sprintf("hostile %s to %s reported, never sent", p.id, p.to))
			continue
		case seen > 1:
			s.PoisonRepeated++
			s.detail(fmt.Sprintf("hostile %s to %s reported skipped %d times, delivered %d times", p.id, p.to, p.skipped, p.delivered))
		case p.damaged > 0:
			s.PoisonDamaged++
			s.detail(fmt.Sprintf("hostile %s to %s delivered altered", p.id, p.to))
		case p.skipped == 1:
			s.PoisonSkipped++
		case p.delivered == 1:
			s.PoisonDelivered++
		case !p.relayed:
			s.PoisonNotRelayed++
		default:
			s.PoisonSilent++
			s.detail(fmt.Sprintf("hostile %s (%s) to %s neither reported nor delivered", p.id, p.kind, p.to))
		}
		s.PoisonSent++
	}
}

// Failed reports whether the summary breaks a rule of the soak: a message
// lost, duplicated, delivered out of order, invented or ignored, or a
// hostile stanza swallowed silently, repeated, altered or invented.
func (s Summary) Failed() bool {
	return s.Duplicated > 0 || s.Lost > 0 || s.OrderViolations > 0 || s.Unsent > 0 || s.Unaccepted > 0 ||
		s.PoisonSilent > 0 || s.PoisonRepeated > 0 || s.PoisonDamaged > 0 || s.PoisonUnknown > 0
}

// crashLost reports whether a volatile restart (see Restart) after the
// server acknowledged m explains its loss.
func (l *Ledger) crashLost(from string, m *msg) bool {
	if m.acked.IsZero() {
		return false
	}
	for _, r := range l.restarts {
		if r.From == from && r.Volatile && r.At.After(m.acked) {
			return true
		}
	}
	return false
}

func (s *Summary) detail(line string) {
	if len(s.Detail) < 20 {
		s.Detail = append(s.Detail, line)
	}
}

func stamps(ts []time.Time) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = stamp(t)
	}
	return strings.Join(out, ", ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("15:04:05.000")
}

// String renders the summary on one line.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, delivered exactly once %d, duplicated %d, lost %d, lost by server crash %d, live order violations %d, late %d, delayed %d, first delivered in the final drain %d, duplicates dropped by the receiver %d",
		s.Sent, s.Delivered, s.Duplicated, s.Lost, s.LostByCrash, s.OrderViolations, s.Late, s.Delayed, s.Final, s.Dropped)
	if s.Unsent > 0 {
		fmt.Fprintf(&b, ", delivered but never sent %d", s.Unsent)
	}
	if s.RedeliveredAfterKill > 0 {
		fmt.Fprintf(&b, ", redelivered to a restarted process after SIGKILL %d", s.RedeliveredAfterKill)
	}
	if s.InDoubt > 0 || s.Unaccepted > 0 {
		fmt.Fprintf(&b, "; typed into a killed process %d (of them delivered once %d), typed and never accepted %d", s.InDoubt, s.InDoubtDelivered, s.Unaccepted)
	}
	if s.PoisonSent > 0 || s.PoisonUnknown > 0 {
		fmt.Fprintf(&b, "; hostile stanzas %d: skipped and reported %d, delivered intact %d, not relayed by the server %d, swallowed silently %d, repeated %d, altered %d, never sent %d",
			s.PoisonSent, s.PoisonSkipped, s.PoisonDelivered, s.PoisonNotRelayed, s.PoisonSilent, s.PoisonRepeated, s.PoisonDamaged, s.PoisonUnknown)
	}
	return b.String()
}
