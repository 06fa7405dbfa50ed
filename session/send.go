package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SendMessage sends a chat message. ID and OriginID are filled in when
// empty; the message as sent is returned.
//
// With stream management, a nil error means the message is in the State: it
// is kept until the server acknowledges it and sent again by the next session
// if this one breaks first (WaitAcked waits for the acknowledgement), and
// Config.Persist has had a copy with it before SendMessage returns. An error
// means the message was not taken. Without stream management, a nil error
// only means it was written.
//
// ctx bounds the wait for other senders ahead of this one; once the message
// is taken, the write is bounded by Config.WriteTimeout instead.
func (s *Session) SendMessage(ctx context.Context, m Message) (Message, error) {
	if m.To == "" {
		return m, errors.New("session: message without recipient")
	}
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.OriginID == "" {
		m.OriginID = m.ID
	}
	m.From = ""
	mm := m
	raw := encodeMessage(&mm, time.Time{}, "")
	if err := checkEncoded(len(raw)+s.delayLen, s.sendMax); err != nil {
		return m, err
	}
	err := s.sendRaw(ctx, "message", m.ID, m.To, &mm, func(string) []byte { return raw })
	return m, err
}

// CheckSize returns a *TooLargeError (ErrTooLarge) when m is larger than max
// bytes as a session of the account from (its JID; a resource is ignored)
// writes it, in the larger of its two forms: as sent, and as resent by a
// fresh session after a lost stream, with its XEP-0203 delay. max 0 is
// DefaultMaxSendBytes; negative is no bound. SendMessage checks it; a
// caller that queues messages for later (package reconnect) checks it
// when it takes them.
func CheckSize(m Message, from string, max int) error {
	if max < 0 {
		return nil
	}
	m.From = ""
	return checkEncoded(len(encodeMessage(&m, time.Time{}, ""))+delayOverhead(bare(from)), max)
}

// checkEncoded is CheckSize for a message n bytes long in its larger form,
// resent with its delay element.
func checkEncoded(n int, max int) error {
	if max == 0 {
		max = DefaultMaxSendBytes
	}
	if max < 0 {
		return nil
	}
	if n > max {
		return &TooLargeError{Size: n, Max: max}
	}
	return nil
}

// delayOverhead is the length of the XEP-0203 delay element encodeMessage
// adds to a message resent by the account from.
func delayOverhead(from string) int {
	const (
		open  = len(`<delay xmlns="urn:xmpp:delay"`) + len(` stamp=""/>`)
		stamp = len("2006-01-02T15:04:05.000Z") // delayStamp's form, always
	)
	return open + stamp + len(appendAttr(nil, "from", from))
}

// lockQueue takes the stanza lock, which orders stanzas: one holds it from
// the moment its stanza joins the unacked queue until it is written, so that
// queue order is wire order. It is a channel so that waiting for it respects
// ctx. It fails with ErrClosed once the session has ended: a stanza taken
// after that would stay in the State for the next session, but callers
// should learn that this one is gone.
func (s *Session) lockQueue(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.qmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := s.Err(); err != nil {
		<-s.qmu
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

func (s *Session) unlockQueue() { <-s.qmu }

// sendRaw sends one stanza built by build, queueing it when stream
// management is on, and requests an acknowledgement when none is
// outstanding. The State is persisted with the stanza before it is written,
// under the stanza lock but not the write lock, so the read loop can still
// answer the server meanwhile.
func (s *Session) sendRaw(ctx context.Context, kind, id, to string, m *Message, build func(id string) []byte) error {
	raw := build(id)
	if err := s.lockQueue(ctx); err != nil {
		return err
	}
	defer s.unlockQueue()
	s.cfg.pauseAt("queue-locked")
	s.mu.Lock()
	if err := s.err; err != nil {
		// Ended since lockQueue looked: the event goroutine may have
		// stopped already, so a Sent queued now would be dropped while
		// the message stayed in the State. Not taken, then.
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	buf := raw
	if s.sm {
		s.st.Unacked = append(s.st.Unacked, Stanza{Kind: kind, ID: id, To: to, Sent: s.cfg.now(), Raw: raw, Message: m})
		if s.rOut == 0 {
			buf = append(raw[:len(raw):len(raw)], smRequest...)
			s.requestAck()
		}
		// An <r/> covers it, now or already outstanding: its <a/> is
		// due within the ack timeout.
		s.armAckTimer()
	}
	var saved *gate
	if s.sm && m != nil {
		// Taken: queued now, before any <a/> for it can be, and
		// delivered once saved: a program that takes Sent as accepted
		// and is then killed finds the message in the copy.
		saved = newGate()
		s.notes.emitAfter(Sent{Message: *m}, saved)
	}
	sm := s.sm
	s.mu.Unlock()
	if sm {
		// Saved before it is written: a copy on disk never misses a stanza
		// the server may have.
		perr := s.persist()
		if perr != nil {
			// Persist panicked and the session has ended: the
			// stanza is not taken (no Sent, an error), so it must
			// not stay for the next session to send as well. It is
			// still the last one queued (the stanza lock is held)
			// and was never written.
			s.mu.Lock()
			if n := len(s.st.Unacked); n > 0 && len(raw) > 0 && len(s.st.Unacked[n-1].Raw) > 0 && &s.st.Unacked[n-1].Raw[0] == &raw[0] {
				s.st.Unacked[n-1] = Stanza{}
				s.st.Unacked = s.st.Unacked[:n-1]
				if n == 1 {
					s.st.Unacked = nil
				}
			}
			s.mu.Unlock()
		}
		if saved != nil {
			saved.open(perr == nil)
		}
		if perr != nil {
			return fmt.Errorf("%w: %w", ErrClosed, perr)
		}
	}
	s.wmu.Lock()
	err := s.writeLocked(buf)
	s.wmu.Unlock()
	if sm {
		// Queued: the next session sends it again.
		return nil
	}
	if err == nil && m != nil {
		s.emit(Sent{Message: *m})
	}
	if err == nil && kind != "iq" {
		// No <a/> without stream management: a ping answered proves
		// the connection carried it.
		s.pingAfterSend()
	}
	return err
}

// writeNonza writes a nonza.
func (s *Session) writeNonza(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(b)
}

// writeLocked writes b with the write timeout; s.wmu must be held. A failed
// write ends the session.
func (s *Session) writeLocked(b []byte) error {
	_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, err := s.wire.Write(b)
	if err != nil {
		err = &ConnError{Op: "write", Err: err}
		s.fail(err)
		return err
	}
	return nil
}

// SetActive tells the server whether the client is active (XEP-0352, client
// state indication), when the server offers it. An inactive client lets the
// server hold back unimportant traffic. The choice is kept in the State and
// said again after a resumption.
func (s *Session) SetActive(active bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.st.Inactive = !active
	s.st.CSIPending = true
	csi, sm := s.csi, s.sm
	b := []byte(csiIdle)
	if active {
		b = []byte(csiActive)
	}
	if csi && sm {
		// The <a/> answering this <r/> proves the server has the new
		// state; until then it is pending, and said again after a
		// resumption (an <active/> written into a connection that turns
		// out dead never arrived).
		b = append(b, smRequest...)
		s.csiTarget = s.requestAck()
	}
	s.mu.Unlock()
	if !csi {
		return nil
	}
	return s.writeLocked(b)
}

// WaitAcked waits until the server has acknowledged the stanza with the given
// id. It returns ErrNotAcked (wrapping why) if the session ends first, and
// ErrNoStreamManagement if there is no stream management.
func (s *Session) WaitAcked(ctx context.Context, id string) error {
	for {
		s.mu.Lock()
		if !s.sm {
			s.mu.Unlock()
			return ErrNoStreamManagement
		}
		pending := false
		for _, q := range s.st.Unacked {
			if q.ID == id {
				pending = true
				break
			}
		}
		wake, sessErr := s.ackWake, s.err
		s.mu.Unlock()
		if !pending {
			return nil
		}
		if sessErr != nil {
			return fmt.Errorf("%w: %w", ErrNotAcked, sessErr)
		}
		select {
		case <-wake:
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotAcked, ctx.Err())
		}
	}
}

// Probe checks that the connection is alive: with stream management it sends
// <r/> and waits for the <a/> that answers it; without, a XEP-0199 ping. It
// returns nil on an answer, ErrProbeTimeout when none came within timeout (a
// silent connection), or the error that ended the session (a *ConnError for
// a broken socket), as soon as it is known.
//
// A resumed stream that has acknowledged nothing since its resumption and
// leaves a probe unanswered is given up: the session ends with
// ErrResumedStreamSilent and the next Connect opens a fresh session rather
// than resume a stream the server no longer parses (see the package doc).
func (s *Session) Probe(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.mu.Lock()
	sm := s.sm
	s.mu.Unlock()
	if !sm {
		_, err := s.iq(ctx, "get", s.jid.Domain().String(), `<ping xmlns="urn:xmpp:ping"/>`)
		var se *iqError
		switch {
		case err == nil, errors.As(err, &se):
			return nil // any answer proves the connection works
		case errors.Is(err, context.DeadlineExceeded) && s.Err() == nil:
			return ErrProbeTimeout
		}
		return err
	}

	s.wmu.Lock()
	s.mu.Lock()
	target := s.requestAck()
	wake := s.ackWake
	s.mu.Unlock()
	err := s.writeLocked([]byte(smRequest))
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	for {
		select {
		case <-wake:
			s.mu.Lock()
			ok := s.rAnswered >= target
			wake = s.ackWake
			s.mu.Unlock()
			if ok {
				return nil
			}
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			if s.Err() != nil {
				return s.Err()
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				s.giveUpSilentResumption()
				return ErrProbeTimeout
			}
			return ctx.Err()
		}
	}
}

// requestAck records an <r/> about to be written and returns its number:
// the <a/> that answers it is the rSent-th answer. s.mu must be held.
func (s *Session) requestAck() uint64 {
	s.rOut++
	s.rSent++
	return s.rSent
}

// onAck processes <a h='…'/>.
func (s *Session) onAck(h uint32) error {
	s.mu.Lock()
	acked, err := s.st.ack(h)
	if err != nil {
		app := handledCountTooHigh(h, s.st)
		s.mu.Unlock()
		return &StreamError{Condition: "undefined-condition", Text: err.Error(), Local: true, app: app}
	}
	s.acks++
	if s.rOut > 0 {
		s.rOut--
		s.rAnswered++
	}
	if s.csiTarget != 0 && s.rAnswered >= s.csiTarget {
		s.csiTarget = 0
		s.st.CSIPending = false
	}
	close(s.ackWake)
	s.ackWake = make(chan struct{})
	again := len(s.st.Unacked) > 0 && s.rOut == 0
	if again {
		s.requestAck()
	}
	// An answer proves the connection alive: the wait for the stanzas
	// still unacknowledged starts again.
	s.stopAckTimer()
	if len(s.st.Unacked) > 0 {
		s.armAckTimer()
	}
	if len(acked) > 0 {
		s.emit(Acked{Stanzas: refs(acked)})
	}
	s.mu.Unlock()
	if len(acked) > 0 {
		s.persist()
	}
	if again {
		return s.writeNonza([]byte(smRequest))
	}
	return nil
}

// iqError is an error reply to an iq we sent.
type iqError struct{ condition string }

func (e *iqError) Error() string { return "session: iq error: " + e.condition }

// iq sends an iq of type typ to to (the server when empty) with the given
// payload and waits for the reply.
func (s *Session) iq(ctx context.Context, typ, to, payload string) (*inIQ, error) {
	id := NewID()
	ch := make(chan *inIQ, 1)
	s.mu.Lock()
	s.iqs[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.iqs, id)
		s.mu.Unlock()
	}()
	err := s.sendRaw(ctx, "iq", id, to, nil, func(id string) []byte {
		b := append([]byte(`<iq type="`), typ...)
		b = append(b, '"')
		b = appendAttr(b, "to", to)
		b = appendAttr(b, "id", id)
		b = append(b, '>')
		b = append(b, payload...)
		return append(b, "</iq>"...)
	})
	if err != nil {
		return nil, err
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%w: %w", ErrClosed, s.Err())
		}
		if reply.Type == "error" {
			return reply, &iqError{condition: reply.stanzaError()}
		}
		return reply, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
