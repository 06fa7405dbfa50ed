package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Recovery after login: what a resumed stream must send again before
// anything else, and the steps of a fresh session (warnings, roster,
// presence, the messages an unresumable stream left unconfirmed, the
// archive).

// resendAfterResume sends again, as they were and in order, the stanzas the
// server did not get before the stream was resumed, then <r/>. Connect calls
// it before the read loop starts, so that nothing (not even the answer to an
// iq the server had queued for us) can be written between <resumed/> and the
// end of the resend: an <a/> covering such an answer would otherwise remove
// a message the server never got.
func (s *Session) resendAfterResume() error {
	if err := s.lockQueue(context.Background()); err != nil {
		return err
	}
	defer s.unlockQueue()
	s.mu.Lock()
	var dropped bool
	resend := s.st.Unacked[:0:0]
	for _, q := range s.st.Unacked {
		if q.Kind == "message" && s.unsendable(refOf(q), len(q.Raw)) {
			// Never sent on this stream again: the numbering of what
			// is resent (for h) goes on without it.
			dropped = true
			continue
		}
		resend = append(resend, q)
	}
	s.st.Unacked = resend
	if len(resend) == 0 {
		s.mu.Unlock()
		if dropped {
			s.persist()
		}
		return nil
	}
	var buf []byte
	for _, q := range resend {
		buf = append(buf, q.Raw...)
	}
	buf = append(buf, smRequest...)
	s.requestAck()
	s.armAckTimer()
	s.emit(Resent{Stanzas: refs(resend)})
	s.mu.Unlock()
	if dropped {
		s.persist()
	}
	s.wmu.Lock()
	err := s.writeLocked(buf)
	s.wmu.Unlock()
	s.cfg.pauseAt("resent")
	return err
}

// afterLogin runs once the stream is ready and the read loop runs: CSI again
// after a resumption, or the usual login steps of a fresh session.
func (s *Session) afterLogin(ctx context.Context) error {
	if s.login.Resumed {
		s.mu.Lock()
		inactive, pending := s.st.Inactive, s.st.CSIPending
		s.mu.Unlock()
		// CSI is not reliably restored by a resumption, and a state said
		// while the old connection was already dead never arrived: say it
		// again when it is inactive or unconfirmed.
		if s.csi && (inactive || pending) {
			return s.SetActive(!inactive)
		}
		return nil
	}

	if !s.sm {
		s.emit(Warning{Text: "the server does not offer stream management (XEP-0198): sent messages are not acknowledged and may be lost if the connection breaks"})
	}
	if rf := s.login.ResumeFailed; rf != nil && !rf.HKnown {
		s.emit(Warning{Text: "resumption failed and the server did not say which stanzas it received: unconfirmed messages are resent with a delay and their origin-id, so receivers may see a duplicate they can drop"})
	}
	if s.cfg.FetchRoster {
		if _, err := s.iq(ctx, "get", "", `<query xmlns="jabber:iq:roster"/>`); err != nil {
			return fmt.Errorf("session: fetching roster: %w", err)
		}
	}
	// Where the catch-up starts is fixed before the initial presence,
	// which the server answers with what it kept offline: live messages
	// whose archive ids come after what the archive holds for the lost
	// stream, and which must not move LastArchiveID past that.
	plan := s.planCatchUp()
	if !s.cfg.NoPresence {
		if err := s.sendRaw(ctx, "presence", NewID(), "", nil, func(id string) []byte {
			return []byte(`<presence id="` + id + `"/>`)
		}); err != nil {
			return err
		}
	}
	if err := s.resendOrphans(ctx); err != nil {
		return err
	}
	if err := s.catchUpAfterLoss(ctx, plan); err != nil {
		return err
	}
	s.mu.Lock()
	inactive := s.st.Inactive
	s.mu.Unlock()
	if s.csi && inactive {
		return s.SetActive(false)
	}
	s.mu.Lock()
	s.st.CSIPending = false // a fresh stream starts active
	s.mu.Unlock()
	return nil
}

// resendOrphans sends again, in one write, the messages an earlier stream
// left unconfirmed, with a XEP-0203 delay (when they were first sent) and
// their origin-id, and reports every other stanza as Failed: an iq is never
// sent again blindly. The Resent event is queued with the stanzas, before
// they are written, so it comes before any Acked for them.
func (s *Session) resendOrphans(ctx context.Context) error {
	if err := s.lockQueue(ctx); err != nil {
		return err
	}
	defer s.unlockQueue()
	s.mu.Lock()
	orphans := s.st.Orphans
	s.st.Orphans = nil
	from := s.jid.Bare().String()
	var (
		buf    []byte
		resent []Ref
		kept   []Stanza // without stream management: what to keep if the write fails
	)
	for _, o := range orphans {
		if o.Kind == "presence" && o.To == "" {
			continue // the fresh session has sent its own initial presence
		}
		if o.Kind != "message" || o.Message == nil {
			s.emit(Failed{Stanza: refOf(o), Reason: "the stream it was sent on could not be resumed; " + o.Kind + " stanzas are not resent"})
			continue
		}
		m := *o.Message
		raw := encodeMessage(&m, o.Sent, from)
		if s.unsendable(refOf(o), len(raw)) {
			continue
		}
		buf = append(buf, raw...)
		if s.sm {
			s.st.Unacked = append(s.st.Unacked, Stanza{Kind: "message", ID: m.ID, To: m.To, Sent: o.Sent, Raw: raw, Message: &m})
		} else {
			kept = append(kept, o)
		}
		resent = append(resent, refOf(o))
	}
	if len(buf) == 0 {
		s.mu.Unlock()
		if len(orphans) > 0 {
			s.persist()
		}
		return nil
	}
	if s.sm && s.rOut == 0 {
		buf = append(buf, smRequest...)
		s.requestAck()
	}
	s.emit(Resent{Stanzas: resent, Delayed: true})
	sm := s.sm
	s.mu.Unlock()
	s.persist()
	s.wmu.Lock()
	err := s.writeLocked(buf)
	s.wmu.Unlock()
	if err != nil && !sm {
		// Nothing keeps them but the State: the next session tries again
		// (a receiver drops a copy it already has by its origin-id).
		s.mu.Lock()
		s.st.Orphans = append(kept, s.st.Orphans...)
		s.mu.Unlock()
		s.persist()
	}
	if sm {
		return nil // queued: the next session sends them again
	}
	return err
}

// catchUpPlan is where a catch-up starts (planCatchUp): after the archive
// id since, or from start when since is empty; none when ok is false.
type catchUpPlan struct {
	since string
	start time.Time
	ok    bool
}

// planCatchUp decides whether the archive (XEP-0313) is to be asked for
// what arrived while a stream that could not be resumed was gone, or what
// an earlier catch-up left unfetched (State.ArchiveBehind), and from
// where. It marks the archive behind at once: from then on a live message
// does not move LastArchiveID (it is later than what the catch-up has not
// fetched yet) but joins a span of State.ArchiveLive.
func (s *Session) planCatchUp() catchUpPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	since, behind, start := s.st.LastArchiveID, s.st.ArchiveBehind, s.st.ArchiveStart
	if s.cfg.NoArchive {
		s.st.ArchiveBehind = false // nothing will catch up: live ids move it again
		s.st.ArchiveStart = time.Time{}
		s.st.ArchiveLive = nil
		return catchUpPlan{}
	}
	replaced := s.login.ResumeFailed != nil || s.login.ResumeSkipped != ResumeNotSkipped
	if !replaced && !behind {
		return catchUpPlan{}
	}
	if since == "" && start.IsZero() {
		// The first catch-up: from shortly before the last sign of
		// life. Remembered (ArchiveStart) until it has handled a
		// result or finished: this login has moved LastAlive already.
		if s.prevAlive.IsZero() {
			return catchUpPlan{}
		}
		start = s.prevAlive.Add(-time.Minute)
	}
	// Until the catch-up finishes, a live message (later than what the
	// archive still holds for us) must not move LastArchiveID. Both are
	// saved with the next stanza queued (the initial presence, or the
	// query), so a process killed during the catch-up takes it up again.
	s.st.ArchiveBehind = true
	if since == "" {
		s.st.ArchiveStart = start
	}
	return catchUpPlan{since: since, start: start, ok: true}
}

// catchUpAfterLoss fetches from the archive what planCatchUp decided,
// bounded by the login timeout.
func (s *Session) catchUpAfterLoss(ctx context.Context, p catchUpPlan) error {
	if !p.ok {
		return nil
	}
	since, start := p.since, p.start
	// Bounded: a server that does not answer must not hold the login; what
	// the archive holds stays there for next time.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.LoginTimeout)
	n, finished, err := s.catchUp(cctx, since, start)
	cancel()
	var ie *iqError
	switch {
	case errors.As(err, &ie):
		s.log.Debug("archive catch-up refused", slog.String("condition", ie.condition), slog.Bool("first_page", finished))
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		s.emit(Warning{Text: "the archive (XEP-0313) did not answer in time: messages it holds may arrive later"})
	case err != nil:
		return fmt.Errorf("session: archive catch-up: %w", err)
	default:
		s.login.Archived = n
		if !finished {
			s.emit(Warning{Text: fmt.Sprintf("the archive (XEP-0313) holds more than the %d messages one catch-up fetches: the rest arrive after the next login", mamPage*mamMaxPages)})
		}
	}
	if finished {
		// Caught up once the application has the results, which are
		// still queued for it: a copy saved caught up before they are
		// handled would, after a kill, resume without a catch-up, and
		// the server's resent results (answers to a query of the dead
		// process) are dropped. Dropped itself if the session ends
		// first: the next login catches up again.
		s.notes.later(func() {
			s.mu.Lock()
			s.st.ArchiveBehind = false
			s.st.ArchiveStart = time.Time{}
			s.st.ArchiveLive = nil
			s.mu.Unlock()
			s.persist()
		})
	}
	return nil
}

// unsendable reports whether a message to resend, n bytes long as it
// would be written, is above the bound on what the server takes (taken
// before the bound existed, from a state file: the server would close the
// connection on it, at every attempt), and reports it Failed if so. The
// caller holds s.mu.
func (s *Session) unsendable(ref Ref, n int) bool {
	var tl *TooLargeError
	if !errors.As(checkEncoded(n, s.sendMax), &tl) {
		return false
	}
	s.emit(Failed{Stanza: ref, Reason: fmt.Sprintf("%d bytes, above the %d the server takes (State.SendBound): it would close the connection on it; not sent", tl.Size, tl.Max)})
	return true
}
