package session

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Detach ends the connection without ending the stream, so that the server
// keeps it for resumption: a last <a/> so the server can drop what we have,
// then the TCP connection is closed without </stream:stream>. The State stays
// resumable. This is what an app does at the end of its background window.
// Without stream management (nothing to resume) it ends the stream instead,
// and waits up to 2 s for the server to end its own, as Close does: the
// server then stores what is written to the account meanwhile.
func (s *Session) Detach() error {
	s.wmu.Lock()
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		s.wmu.Unlock()
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	s.ending = ErrDetached
	h, sm := s.st.InH, s.sm
	s.mu.Unlock()
	var err error
	if sm {
		err = s.writeLocked(smAnswer(h))
	} else {
		// Without stream management there is nothing to resume: end the
		// stream, so that the server knows at once that the account has
		// no session here. A socket merely closed leaves a window (until
		// the server reads the EOF) in which it routes messages to the
		// session whose socket is gone, and they are lost; after its own
		// </stream:stream>, it stores them offline.
		_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_, err = s.wire.Write([]byte(`</stream:stream>`))
	}
	s.wmu.Unlock()
	if !sm && err == nil {
		// Wait for the server's end of the stream, as Close does.
		t := time.NewTimer(2 * time.Second)
		select {
		case <-s.done:
		case <-t.C:
		}
		t.Stop()
	}
	s.mu.Lock()
	now := s.cfg.now()
	s.st.LastAlive, s.st.Closed = now, now
	s.mu.Unlock()
	s.fail(ErrDetached)
	<-s.done
	s.persist()
	return err
}

// Abort closes the TCP connection at once, without a word to the server. The
// State stays resumable. Use it on a connection already known to be dead.
func (s *Session) Abort() {
	s.mu.Lock()
	if s.ending == nil {
		s.ending = &ConnError{Op: "read", Err: net.ErrClosed}
	}
	if s.st.Closed.IsZero() {
		// The server notices at the latest now (later is safe: the
		// resumption is skipped only once Max has surely passed).
		s.st.Closed = s.cfg.now()
	}
	s.mu.Unlock()
	s.fail(nil)
	<-s.done
}

// Close ends the stream for good: it waits (bounded by ctx) until the server
// has acknowledged everything sent, then sends a last <a/> (the count of
// every incoming stanza handled, so that the server re-routes none of them;
// what arrives after it is dropped, for the server to re-route) and
// </stream:stream>, waits briefly
// for the server's, and closes the connection. The server discards the
// stream, so the State is no longer resumable; anything still unacknowledged
// is kept in it and resent by the next session.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	var last string
	if n := len(s.st.Unacked); n > 0 && s.sm {
		last = s.st.Unacked[n-1].ID
	}
	s.mu.Unlock()
	var ackErr error
	if last != "" {
		// Ask now rather than rely on a request already under way.
		s.wmu.Lock()
		s.mu.Lock()
		s.requestAck()
		s.mu.Unlock()
		_ = s.writeLocked([]byte(smRequest))
		s.wmu.Unlock()
		ackErr = s.WaitAcked(ctx, last)
	}

	// The last count, of everything handled: a server re-routes (to
	// offline storage, or back to the sender) what it sent and was not
	// acknowledged when the stream ends, so a message the application got
	// would come again in the next session. Taken on the event goroutine
	// once what was read before is handled; what is read after it is
	// neither delivered nor counted: the server re-routes it.
	final := s.finalCount(ctx)

	s.wmu.Lock()
	s.mu.Lock()
	alive := s.err == nil
	if alive {
		s.ending = ErrClosed
	}
	s.mu.Unlock()
	if alive {
		b := []byte(`</stream:stream>`)
		if final != nil {
			b = append(smAnswer(*final), b...)
		}
		_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_, _ = s.wire.Write(b)
	}
	s.wmu.Unlock()
	if alive {
		t := time.NewTimer(2 * time.Second)
		select {
		case <-s.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.fail(ErrClosed)
	<-s.done
	s.mu.Lock()
	s.st.orphan()
	s.mu.Unlock()
	s.persist()
	if ackErr != nil {
		return fmt.Errorf("session: closed with stanzas unacknowledged: %w", ackErr)
	}
	return nil
}

// fail ends the session once: it records why, closes the connection, and
// wakes everyone waiting.
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if s.ending != nil {
		err = s.ending
	}
	if err == nil {
		err = ErrClosed
	}
	s.err = err
	s.stopAckTimer()
	close(s.ackWake)
	s.ackWake = make(chan struct{})
	s.mu.Unlock()
	if s.raw != nil {
		s.raw.Close()
	}
}

// writeFinal writes the last bytes of a stream (a stream error), bounded by
// the write timeout, and ignores failures: the connection is closed next.
func (s *Session) writeFinal(b string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, _ = s.wire.Write([]byte(b))
}

// giveUpSilentResumption handles a probe that went unanswered on a resumed
// stream that has not acknowledged anything since it was resumed. Prosody
// (0.12.3 and 13) parses a resumed connection with the old connection's XML
// parser: when the tear cut a stanza of ours in half, the server silently
// swallows everything we send on the resumed stream, <r/> included, and
// every later resumption continues the same broken parse. Only a fresh
// session repairs that, so the stream is given up: the session ends
// (ErrResumedStreamSilent) and the State is no longer resumable, so the next
// Connect opens a fresh session and resends what is unconfirmed with a delay
// and its origin-id (a receiver drops a copy it already has). A stream
// merely black-holed right after its resumption is treated the same way; it
// costs a full login instead of a resumption, never a message.
func (s *Session) giveUpSilentResumption() {
	s.mu.Lock()
	silent := s.login.Resumed && s.acks == 0 && s.err == nil
	if silent {
		s.st.ID = ""
		s.st.Location = ""
		s.ending = &ConnError{Op: "read", Err: ErrResumedStreamSilent}
	}
	s.mu.Unlock()
	if silent {
		s.log.Warn("the resumed stream acknowledged nothing: giving it up for a fresh session")
		s.fail(nil)
	}
}

// finalCount returns the count of the incoming stanzas handled, once every
// one read so far is handled, and from then on the notifier drops what
// comes in (see notifier.final). nil without stream management, when ctx
// ends first, or when the session ended meanwhile.
func (s *Session) finalCount(ctx context.Context) *uint32 {
	s.mu.Lock()
	sm := s.sm && s.err == nil
	s.mu.Unlock()
	if !sm {
		return nil
	}
	got := make(chan uint32, 1)
	s.notes.later(func() {
		s.notes.final.Store(true)
		s.mu.Lock()
		h := s.st.InH
		s.mu.Unlock()
		got <- h
	})
	select {
	case h := <-got:
		return &h
	case <-ctx.Done():
	case <-s.done:
	}
	return nil
}
