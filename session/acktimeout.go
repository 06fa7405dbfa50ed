package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// The ack timeout: a connection that takes stanzas and answers nothing is
// dead, and is found so by the client's own traffic, long before the kernel
// gives up retransmitting (many minutes) or the idle probe comes round.
//
// With stream management, every stanza is followed by an <r/> (or covered by
// one already outstanding). When stanzas are unacknowledged and no <a/> at
// all has come for Config.AckTimeout since the request, the session ends with
// ErrAckTimeout (in a *ConnError); the stanzas stay in the State and the next
// session resends them. Any <a/> proves the connection alive and restarts the
// wait while stanzas remain unacknowledged. A resumed stream that has
// acknowledged nothing at all is given up as after an unanswered probe (the
// error wraps ErrResumedStreamSilent too): resuming it again would meet the
// same silence.
//
// Without stream management, a message or presence written is followed by a
// XEP-0199 ping unless one is under way; a ping unanswered within AckTimeout
// ends the session the same way, by the same rule for a late timer (below).
// A stanza written while a ping was under way gets a ping of its own after
// it.
//
// A deadline that fires late by more than ackLate means the process did not
// run when it was due: stopped (SIGSTOP, a frozen VM, a machine asleep where
// Go's timers count sleep) or starved of CPU. The answer the server sent meanwhile (an <a/>, or the
// ping's reply) may then be waiting, unread, in the socket buffer, and the
// timer, which fires as soon as the process runs again, would race the read
// loop for it. Such a deadline gives the read side ackGrace more instead of
// declaring the connection dead at once. (Declaring it dead would cost a
// resumption, on a resumed stream that has acknowledged nothing yet a fresh
// session, whose resends a receiver without origin-id de-duplication shows
// twice, and without stream management a new login.) Both waits, the ack
// timer and the ping's, are an ackDeadline: the rule lives there alone.

// ackLate and ackGrace: see above.
const (
	ackLate  = time.Second
	ackGrace = 2 * time.Second
)

// An ackDeadline calls expire once its duration has passed, unless it was
// stopped (or started again) first: a timer that fires anyway then does
// nothing. A timer that fires more than ackLate after it was due, by the
// session's clock, waits ackGrace more instead, as often as it is late.
// Its lock is taken after the state mutex, never before it, and is not
// held while expire runs.
type ackDeadline struct {
	now    func() time.Time
	log    *slog.Logger
	what   string // for the log: "ack timer", "ping deadline"
	expire func()

	mu  sync.Mutex
	gen uint64      // a timer of another generation does nothing
	due time.Time   // by now
	t   *time.Timer // nil when not running
}

func (s *Session) newAckDeadline(what string, expire func()) *ackDeadline {
	return &ackDeadline{now: s.cfg.now, log: s.log, what: what, expire: expire}
}

// start (re)starts the wait for d.
func (a *ackDeadline) start(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.startLocked(d)
}

func (a *ackDeadline) startLocked(d time.Duration) {
	if a.t != nil {
		a.t.Stop()
	}
	a.gen++
	gen := a.gen
	a.due = a.now().Add(d)
	a.t = time.AfterFunc(d, func() { a.fired(gen) })
}

// stop ends the wait; expire is not called.
func (a *ackDeadline) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	if a.t != nil {
		a.t.Stop()
		a.t = nil
	}
}

// running reports whether the wait is under way.
func (a *ackDeadline) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.t != nil
}

// fired ends the wait of generation gen, if it is still the current one:
// expire, or ackGrace more when the timer fired late.
func (a *ackDeadline) fired(gen uint64) {
	a.mu.Lock()
	if gen != a.gen {
		a.mu.Unlock()
		return
	}
	if late := a.now().Sub(a.due); late > ackLate {
		a.startLocked(ackGrace)
		a.mu.Unlock()
		a.log.Debug(a.what+" fired late: the process was not running; waiting for the read side", slog.Duration("late", late))
		return
	}
	a.t = nil
	a.mu.Unlock()
	a.expire()
}

// armAckTimer starts the ack timer unless it runs already: the earliest
// unanswered request bounds the wait. s.mu must be held.
func (s *Session) armAckTimer() {
	if s.cfg.AckTimeout < 0 || s.ackTimer.running() || s.err != nil {
		return
	}
	s.ackTimer.start(s.cfg.AckTimeout)
}

// stopAckTimer stops the ack timer; a timer that fires anyway does nothing.
// s.mu must be held.
func (s *Session) stopAckTimer() { s.ackTimer.stop() }

// deadByAckTimeout ends the session with ErrAckTimeout.
func (s *Session) deadByAckTimeout() {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	n := len(s.st.Unacked)
	cause := ErrAckTimeout
	if s.login.Resumed && s.acks == 0 {
		// As after an unanswered probe (giveUpSilentResumption): a
		// resumed stream that acknowledged nothing is not resumed again.
		s.st.ID = ""
		s.st.Location = ""
		cause = fmt.Errorf("%w: %w", ErrAckTimeout, ErrResumedStreamSilent)
	}
	if s.ending == nil {
		s.ending = &ConnError{Op: "read", Err: cause}
	}
	s.mu.Unlock()
	s.log.Warn("no acknowledgement within the ack timeout: the connection is dead", slog.Duration("ack_timeout", s.cfg.AckTimeout), slog.Int("unacked", n), slog.Bool("resumed_stream_given_up", cause != ErrAckTimeout))
	s.fail(nil)
	s.failIQs()
}

// pingAfterSend makes sure a XEP-0199 ping follows a stanza written without
// stream management.
func (s *Session) pingAfterSend() {
	if s.cfg.AckTimeout < 0 {
		return
	}
	s.mu.Lock()
	s.unpinged = true
	start := !s.pinging && s.err == nil
	if start {
		s.pinging = true
	}
	s.mu.Unlock()
	if start {
		go s.pingLoop()
	}
}

// pingLoop pings the server until no stanza was written since the last
// ping; a ping unanswered in AckTimeout ends the session.
func (s *Session) pingLoop() {
	for {
		s.mu.Lock()
		if !s.unpinged || s.err != nil {
			s.pinging = false
			s.mu.Unlock()
			return
		}
		s.unpinged = false
		s.mu.Unlock()
		// The ping's wait is an ackDeadline, as the ack timer is: late
		// after a freeze, it gives the read side ackGrace to read the
		// answer waiting in the socket.
		ctx, cancel := context.WithCancelCause(context.Background())
		d := s.newAckDeadline("ping deadline", func() { cancel(ErrAckTimeout) })
		d.start(s.cfg.AckTimeout)
		_, err := s.iq(ctx, "get", s.jid.Domain().String(), `<ping xmlns="urn:xmpp:ping"/>`)
		d.stop()
		cancel(nil)
		var ie *iqError
		switch {
		case err == nil, errors.As(err, &ie):
			// Any answer proves the connection carried what came before.
		case errors.Is(context.Cause(ctx), ErrAckTimeout) && s.Err() == nil:
			s.deadByAckTimeout()
		}
	}
}
