package session

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// What the session tells the application: events, on one goroutine of their
// own and in the order the session produced them, and copies of the State.

// maxInbound bounds the incoming stanzas read but not yet handled: past it
// the read loop waits for the application, as TCP's flow control then makes
// the server wait.
const maxInbound = 256

// notifier delivers events to Config.OnEvent on its own goroutine, one at a
// time, in the order they were queued. Queueing an event never blocks, so the
// session queues it while it holds s.mu, at the moment it makes the change
// the event reports: that is what puts Resent before the Acked that answers
// the resend, whichever goroutine saw each.
//
// Incoming stanzas go through the same queue: once OnEvent has returned for
// one (or at once, for a stanza without an event), the notifier calls
// handled, which counts it for XEP-0198. The read loop therefore never waits
// for the application, and a stanza is counted only when it and every stanza
// before it were handled, as the count requires.
type notifier struct {
	on      func(Event)
	handled func(answer bool, commit func())

	mu     sync.Mutex
	q      []note
	closed bool
	wake   chan struct{} // cap 1: the queue is not empty, or closed
	slots  chan struct{} // one per incoming stanza queued, maxInbound at most
	done   chan struct{} // closed once the last note was processed

	// final is set on the notifier's goroutine once Close has taken the
	// last count for the server: incoming stanzas queued after it are
	// dropped, neither delivered nor counted, and <r/>s left unanswered
	// (the stream is ending; the server re-routes what it sent).
	final atomic.Bool
}

type note struct {
	ev      Event         // nil for a stanza without an event, or an answer
	inbound bool          // an incoming stanza: count it once delivered
	commit  func()        // for an incoming stanza: what to record with its count
	answer  bool          // an <r/> to answer once everything before it is counted
	reached chan struct{} // closed when the notifier gets here (barrier)
	after   *gate         // the event waits until this is open (emitAfter)
	do      func()        // run here, once every note before it was processed (later)
}

func newNotifier(on func(Event), handled func(answer bool, commit func())) *notifier {
	n := &notifier{
		on:      on,
		handled: handled,
		wake:    make(chan struct{}, 1),
		slots:   make(chan struct{}, maxInbound),
		done:    make(chan struct{}),
	}
	go n.run()
	return n
}

// emit queues ev. After close it is dropped.
func (n *notifier) emit(ev Event) { n.push(note{ev: ev}) }

// emitAfter queues ev now, in order, but delivers it only once after is
// open, and only if it opened saved: a Sent is queued under the lock that
// orders stanzas (so it is not lost to a session that ends meanwhile) and
// delivered once the State that holds the message is saved, never when
// the save failed. The caller must open after, promptly, whatever happens.
func (n *notifier) emitAfter(ev Event, after *gate) { n.push(note{ev: ev, after: after}) }

// gate holds a Sent until the save of the State holding its message is
// over.
type gate struct {
	ch    chan struct{} // closed by open
	saved bool          // set before ch is closed: the save succeeded
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

// open lets the event waiting on g go, or drops it when the save failed.
func (g *gate) open(saved bool) {
	g.saved = saved
	close(g.ch)
}

// later queues f, to run on the event goroutine once every note queued
// before it was processed. After close it is dropped.
func (n *notifier) later(f func()) { n.push(note{do: f}) }

// inbound queues an incoming stanza, with its event when it has one, and
// what to record in the State (under s.mu) when it is counted. It waits only
// while maxInbound stanzas are queued. Only the read loop calls it, and
// never after close.
func (n *notifier) inbound(ev Event, commit func()) {
	n.slots <- struct{}{}
	n.push(note{ev: ev, inbound: true, commit: commit})
}

// answer queues the answer to an <r/>, to be written once every stanza
// queued before it has been handled.
func (n *notifier) answer() { n.push(note{answer: true}) }

// barrier returns a channel closed once every note queued before it has
// been processed (after close: once all of them have).
func (n *notifier) barrier() <-chan struct{} {
	ch := make(chan struct{})
	if !n.push(note{reached: ch}) {
		return n.done
	}
	return ch
}

// push queues nt and reports whether it was queued (false after close).
func (n *notifier) push(nt note) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.q = append(n.q, nt)
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return true
}

// close stops taking notes; what is queued is still processed, after which
// done is closed.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// wait returns once close was called and every queued note processed.
func (n *notifier) wait() { <-n.done }

func (n *notifier) run() {
	defer close(n.done)
	for range n.wake {
		for {
			n.mu.Lock()
			if len(n.q) == 0 {
				closed := n.closed
				n.q = nil
				n.mu.Unlock()
				if closed {
					return
				}
				break
			}
			nt := n.q[0]
			if nt.after != nil && !isClosed(nt.after.ch) {
				// A Sent waiting for its State to be saved: answer
				// the <r/>s that need nothing behind it meanwhile,
				// so a slow disk never delays an answer.
				n.mu.Unlock()
				n.waitGate(nt.after.ch)
				continue
			}
			n.q[0] = note{}
			n.q = n.q[1:]
			n.mu.Unlock()
			if nt.reached != nil {
				close(nt.reached)
			}
			if nt.do != nil {
				nt.do()
			}
			dropped := (nt.inbound || nt.answer) && n.final.Load() ||
				nt.after != nil && !nt.after.saved // its save failed
			if nt.ev != nil && !dropped {
				n.on(nt.ev)
			}
			if (nt.inbound || nt.answer) && !dropped {
				n.handled(nt.answer, nt.commit)
			}
			if nt.inbound {
				<-n.slots
			}
		}
	}
}

// emit queues ev for Config.OnEvent.
func (s *Session) emit(ev Event) { s.notes.emit(ev) }

// handled runs on the notifier's goroutine: it counts an incoming stanza
// once the application has it (XEP-0198 §4), or answers an <r/> with the
// count of every stanza before it.
func (s *Session) handled(answer bool, commit func()) {
	s.mu.Lock()
	if commit != nil {
		commit()
	}
	sm := s.sm
	if sm && !answer {
		s.st.InH++
	}
	h := s.st.InH
	s.mu.Unlock()
	switch {
	case !sm:
	case answer:
		// After the session ended this write fails, harmlessly.
		_ = s.writeNonza(smAnswer(h))
	default:
		s.persist()
	}
}

// persist hands a copy of the state to Config.Persist. Callers hold no lock
// the read loop needs: a slow disk never delays reading the server. A
// Persist that panics ends the session with a *PersistError, which persist
// returns: whichever goroutine it ran on (the read loop's, the event
// goroutine, a sender's), the panic neither crashes the process nor leaves
// a Sent waiting for a save that will never end.
func (s *Session) persist() (err error) {
	if s.cfg.Persist == nil {
		return nil
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.mu.Lock()
	snap := s.st.Clone()
	s.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			err = s.persistFailed(v)
		}
	}()
	s.cfg.Persist(snap)
	return nil
}

// persistFailed ends the session after Config.Persist panicked with v: the
// copy may not be on disk, so the session stops before it writes anything
// a saved copy would lack. The State in memory is intact.
func (s *Session) persistFailed(v any) error {
	err := &PersistError{Value: v}
	s.log.Error("Config.Persist panicked: ending the session", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	s.mu.Lock()
	if s.ending == nil {
		s.ending = err
	}
	s.mu.Unlock()
	s.fail(nil)
	s.failIQs()
	return err
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitGate waits until gate (the head note's) is closed, answering
// meanwhile the <r/>s queued behind it with only events between: their
// count needs no stanza that waits behind the gate. Notes after an incoming
// stanza or a barrier keep their place.
func (n *notifier) waitGate(gate <-chan struct{}) {
	for {
		n.mu.Lock()
		answers := 0
		for i := 1; i < len(n.q); {
			nt := n.q[i]
			if nt.inbound || nt.reached != nil || nt.after != nil {
				break
			}
			if nt.answer && nt.ev == nil {
				n.q = append(n.q[:i], n.q[i+1:]...)
				answers++
				continue
			}
			i++
		}
		n.mu.Unlock()
		for range answers {
			n.handled(true, nil)
		}
		select {
		case <-gate:
			return
		case <-n.wake:
		}
	}
}

// PersistError ends a session whose Config.Persist panicked (Session.Err,
// and the error of the Connect or SendMessage whose save it was). A copy
// that may not have been saved is never reported as saved: the session
// stops at once, reports no Sent for a message whose save panicked, and
// SendMessage does not take that message (it returns this error wrapped
// with ErrClosed). The State in memory is intact, so the next Connect can
// resume from it. Value is what Persist panicked with; Unwrap returns it
// when it is an error.
type PersistError struct{ Value any }

func (e *PersistError) Error() string {
	return fmt.Sprintf("session: Config.Persist panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, else nil.
func (e *PersistError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
