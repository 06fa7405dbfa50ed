package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// afterLogin runs once the stream is ready: resend what the server does not
// have, in order and before any new stanza, then the usual login steps on a
// fresh session.
func (s *Session) afterLogin(ctx context.Context) error {
	if s.login.Resumed {
		s.mu.Lock()
		resend := cloneStanzas(s.st.Unacked)
		inactive, pending := s.st.Inactive, s.st.CSIPending
		s.mu.Unlock()
		if len(resend) > 0 {
			s.wmu.Lock()
			var buf []byte
			for _, q := range resend {
				buf = append(buf, q.Raw...)
			}
			buf = append(buf, smRequest...)
			s.mu.Lock()
			s.requestAck()
			s.mu.Unlock()
			err := s.writeLocked(buf)
			s.wmu.Unlock()
			if err != nil {
				return err
			}
			s.cfg.OnEvent(Resent{Stanzas: refs(resend)})
		}
		// CSI is not reliably restored by a resumption, and a state said
		// while the old connection was already dead never arrived: say it
		// again when it is inactive or unconfirmed.
		if s.csi && (inactive || pending) {
			return s.SetActive(!inactive)
		}
		return nil
	}

	if !s.sm {
		s.cfg.OnEvent(Warning{Text: "the server does not offer stream management (XEP-0198): sent messages are not acknowledged and may be lost if the connection breaks"})
	}
	if rf := s.login.ResumeFailed; rf != nil && !rf.HKnown {
		s.cfg.OnEvent(Warning{Text: "resumption failed and the server did not say which stanzas it received: unconfirmed messages are resent with a delay and their origin-id, so receivers may see a duplicate they can drop"})
	}
	if s.cfg.FetchRoster {
		if _, err := s.iq(ctx, "get", "", `<query xmlns="jabber:iq:roster"/>`); err != nil {
			return fmt.Errorf("session: fetching roster: %w", err)
		}
	}
	if !s.cfg.NoPresence {
		if err := s.sendRaw("presence", newID(), "", nil, func(id string) []byte {
			return []byte(`<presence id="` + id + `"/>`)
		}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	orphans := s.st.Orphans
	s.st.Orphans = nil
	inactive := s.st.Inactive
	from := s.jid.Bare().String()
	s.mu.Unlock()
	var resent []Ref
	for i, o := range orphans {
		if o.Kind == "presence" && o.To == "" {
			continue // the fresh session has sent its own initial presence
		}
		if o.Kind != "message" || o.Message == nil {
			s.cfg.OnEvent(Failed{Stanza: refOf(o), Reason: "the stream it was sent on could not be resumed; " + o.Kind + " stanzas are not resent"})
			continue
		}
		m := *o.Message
		sent := o.Sent
		err := s.sendRaw("message", m.ID, m.To, &m, func(string) []byte {
			return encodeMessage(&m, sent, from)
		})
		if err != nil {
			// Keep what is left for the next session.
			s.mu.Lock()
			s.st.Orphans = append(orphans[i:len(orphans):len(orphans)], s.st.Orphans...)
			s.mu.Unlock()
			return err
		}
		s.mu.Lock()
		if n := len(s.st.Unacked); n > 0 {
			s.st.Unacked[n-1].Sent = sent
		}
		s.mu.Unlock()
		resent = append(resent, refOf(o))
	}
	if len(resent) > 0 {
		s.cfg.OnEvent(Resent{Stanzas: resent, Delayed: true})
	}
	if replaced := s.login.ResumeFailed != nil || s.login.ResumeSkipped != ""; replaced && !s.cfg.NoArchive {
		s.mu.Lock()
		since := s.st.LastArchiveID
		s.mu.Unlock()
		start := s.prevAlive.Add(-time.Minute)
		if since != "" || !s.prevAlive.IsZero() {
			// Bounded: a server that does not answer must not hold the
			// login; what the archive holds stays there for next time.
			cctx, cancel := context.WithTimeout(ctx, s.cfg.LoginTimeout)
			n, err := s.catchUp(cctx, since, start)
			cancel()
			var ie *iqError
			switch {
			case errors.As(err, &ie):
				s.log.Debug("no archive catch-up", slog.String("condition", ie.condition))
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				s.cfg.OnEvent(Warning{Text: "the archive (XEP-0313) did not answer in time: messages it holds may arrive later"})
			case err != nil:
				return fmt.Errorf("session: archive catch-up: %w", err)
			default:
				s.login.Archived = n
			}
		}
	}
	if s.csi && inactive {
		return s.SetActive(false)
	}
	s.mu.Lock()
	s.st.CSIPending = false // a fresh stream starts active
	s.mu.Unlock()
	return nil
}
