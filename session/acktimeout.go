package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// ends the session the same way. A stanza written while a ping was under way
// gets a ping of its own after it.
//
// A timer that fires late by more than ackLate means the process did not run
// when it was due: stopped (SIGSTOP, a laptop's lid, a frozen VM) or starved
// of CPU. An <a/> the server sent meanwhile may then be waiting, unread, in
// the socket buffer, and the timer, which fires as soon as the process runs
// again, would race the read loop for it. Such a timer gives the read side
// ackGrace more instead of declaring the connection dead at once. (Declaring
// it dead would cost a resumption, and on a resumed stream that has
// acknowledged nothing yet a fresh session, whose resends a receiver without
// origin-id de-duplication shows twice.) The ping without stream management
// keeps its plain deadline: a false death there costs only a new login.

// ackLate and ackGrace: see above.
const (
	ackLate  = time.Second
	ackGrace = 2 * time.Second
)

// armAckTimer starts the ack timer unless it runs already: the earliest
// unanswered request bounds the wait. s.mu must be held.
func (s *Session) armAckTimer() {
	if s.cfg.AckTimeout < 0 || s.ackTimer != nil || s.err != nil {
		return
	}
	s.startAckTimer(s.cfg.AckTimeout)
}

// startAckTimer starts the ack timer for d. s.mu must be held.
func (s *Session) startAckTimer(d time.Duration) {
	s.ackGen++
	gen := s.ackGen
	s.ackDue = s.cfg.now().Add(d)
	s.ackTimer = time.AfterFunc(d, func() { s.ackTimedOut(gen) })
}

// stopAckTimer stops the ack timer; a timer that fires anyway does nothing.
// s.mu must be held.
func (s *Session) stopAckTimer() {
	s.ackGen++
	if s.ackTimer != nil {
		s.ackTimer.Stop()
		s.ackTimer = nil
	}
}

// ackTimedOut ends the session when the timer of generation gen is still
// the current one, unless it fired late (the process was not running): then
// the read side gets ackGrace to read what came meanwhile.
func (s *Session) ackTimedOut(gen uint64) {
	s.mu.Lock()
	current := gen == s.ackGen
	if current {
		s.ackTimer = nil
		if late := s.cfg.now().Sub(s.ackDue); late > ackLate && s.err == nil {
			s.startAckTimer(ackGrace)
			s.mu.Unlock()
			s.log.Debug("ack timer fired late: the process was not running; waiting for the read side", slog.Duration("late", late))
			return
		}
	}
	s.mu.Unlock()
	if current {
		s.deadByAckTimeout()
	}
}

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
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
		_, err := s.iq(ctx, "get", s.jid.Domain().String(), `<ping xmlns="urn:xmpp:ping"/>`)
		cancel()
		var ie *iqError
		switch {
		case err == nil, errors.As(err, &ie):
			// Any answer proves the connection carried what came before.
		case errors.Is(err, context.DeadlineExceeded) && s.Err() == nil:
			s.deadByAckTimeout()
		}
	}
}
