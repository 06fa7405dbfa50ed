package session

import (
	"context"
	"errors"
)

// Ping sends a XEP-0199 ping to the account's server and waits for its
// answer, then until every event of the stanzas the server sent before the
// answer was delivered to Config.OnEvent. A server handles the stanzas of a
// stream in order, so when Ping returns nil, the server has processed every
// stanza sent before it, and an error reply it sent at once for one of them
// (a Bounced for a message to an unknown local user) has been delivered. A
// bounce that comes later (from a remote server, or a recipient's client) is
// not waited for.
//
// Any answer counts, an error reply to the ping included (a server without
// XEP-0199 answers with service-unavailable, after the same processing).
// Ping returns ctx's error when no answer came in time, or the error that
// ended the session. It must not be called from inside Config.OnEvent (it
// waits for the event goroutine).
func (s *Session) Ping(ctx context.Context) error {
	_, err := s.iq(ctx, "get", s.jid.Domain().String(), `<ping xmlns="urn:xmpp:ping"/>`)
	var ie *iqError
	if err != nil && !errors.As(err, &ie) {
		return err
	}
	select {
	case <-s.notes.barrier():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
