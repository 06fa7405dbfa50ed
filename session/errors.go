package session

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrConfig is wrapped by errors in the Config (an invalid JID, no
	// password): retrying cannot fix them.
	ErrConfig = errors.New("session: invalid configuration")
	// ErrClosed is returned by operations on a session that has ended.
	ErrClosed = errors.New("session: closed")
	// ErrDetached ends a session whose connection the client closed on
	// purpose with Detach; the stream stays resumable.
	ErrDetached = errors.New("session: detached")
	// ErrProbeTimeout means a liveness probe got no answer in time: the
	// socket may look open but nothing comes back (a black hole).
	ErrProbeTimeout = errors.New("session: no answer to liveness probe")
	// ErrAckOverflow means the server acknowledged more stanzas than were
	// sent, a XEP-0198 protocol violation; the stream is ended with
	// undefined-condition.
	ErrAckOverflow = errors.New("session: server acknowledged more stanzas than were sent")
	// ErrStanzaTooLarge means the server sent what cannot be skipped and is
	// larger than Config.MaxStanzaBytes: a single tag, or a login that
	// does not end; the stream is ended with policy-violation. A stanza
	// that is merely too large is skipped instead (Skipped).
	ErrStanzaTooLarge = errors.New("session: incoming element too large")
	// ErrTooLarge means a message to send is larger than the bound
	// (Config.MaxSendBytes, or the server's own: State.SendBound; see
	// CheckSize): it was not taken. A server
	// closes the connection on a stanza above its limit, so sending it
	// anyway would lose the connection on every attempt. The error is a
	// *TooLargeError, which says by how much.
	ErrTooLarge = errors.New("session: message too large to send")
	// ErrNotAcked is returned by WaitAcked when the session ended before the
	// server acknowledged the stanza. The stanza is still in the State and is
	// sent again by the next session.
	ErrNotAcked = errors.New("session: stanza not acknowledged")
	// ErrNoStreamManagement is returned by operations that need XEP-0198
	// when the server does not offer it.
	ErrNoStreamManagement = errors.New("session: server does not offer stream management")
	// ErrResumedStreamSilent ends a resumed stream that acknowledged
	// nothing, not even a liveness probe: the next Connect opens a fresh
	// session instead of resuming it again (see Session.Probe).
	ErrResumedStreamSilent = errors.New("session: the resumed stream acknowledged nothing")
	// ErrAckTimeout ends a session whose server acknowledged nothing
	// within Config.AckTimeout of stanzas being written (with stream
	// management; without, a XEP-0199 ping after them went unanswered): a
	// connection that died silently. It comes in a *ConnError; the
	// unacknowledged stanzas stay in the State for the next session.
	ErrAckTimeout = errors.New("session: no acknowledgement within the ack timeout")
	// ErrLoginIncomplete means the server ended stream negotiation before
	// the client was authenticated and bound: a broken or hostile server.
	// Nothing is sent on such a stream. It is permanent.
	ErrLoginIncomplete = errors.New("session: login incomplete")
)

// CondServerAuthFailed is the AuthError condition for a server that failed
// to prove it knows the account's credentials (a wrong SCRAM server
// signature): it may not be the real server, and the password is not what
// is wrong.
const CondServerAuthFailed = "server-authentication-failed"

// AuthError is a SASL authentication failure. It is permanent: retrying with
// the same credentials fails again.
type AuthError struct {
	// Condition is the SASL failure condition, e.g. "not-authorized".
	Condition string
	// Text is the server's optional explanation.
	Text string
}

func (e *AuthError) Error() string {
	msg := "session: authentication failed: " + e.Condition
	if e.Text != "" && e.Text != e.Condition {
		msg += " (" + e.Text + ")"
	}
	return msg
}

// StreamError is a stream-level error: one the server sent before closing
// the stream, or one we sent it.
type StreamError struct {
	// Condition is the RFC 6120 stream error condition, e.g. "conflict".
	Condition string
	// Text is the optional human-readable text.
	Text string
	// Local is true when the client ended the stream with this error.
	Local bool
	// app is the application-specific condition the client sent with it
	// (raw XML), e.g. XEP-0198's <handled-count-too-high/>.
	app string
}

func (e *StreamError) Error() string {
	who := "server"
	if e.Local {
		who = "client"
	}
	msg := "session: stream error from " + who + ": " + e.Condition
	if e.Text != "" {
		msg += " (" + e.Text + ")"
	}
	return msg
}

// ConnError is an error of the connection itself: dialing, reading or
// writing. The stream may still be resumable on a new connection.
type ConnError struct {
	// Op is "dial", "read" or "write".
	Op  string
	Err error
}

func (e *ConnError) Error() string { return "session: " + e.Op + ": " + e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// CertificateError is a TLS certificate verification failure. It is
// permanent until the configuration changes.
type CertificateError struct {
	Err error
}

func (e *CertificateError) Error() string {
	return "session: the server's TLS certificate is not trusted (give its CA with a CA file, or turn verification off explicitly for a test server): " + e.Err.Error()
}
func (e *CertificateError) Unwrap() error { return e.Err }

// TLSError means the connection could not be secured: the server offers no
// STARTTLS, refuses it, or ends negotiation without verified TLS. The session
// never goes on in plaintext, whatever the server advertises, since a
// downgrade is what an attacker on the path would cause. It is permanent
// until the server (or the path to it) changes. A certificate that is not
// trusted is a CertificateError instead.
type TLSError struct {
	// Reason says what went wrong, e.g. "the server refused STARTTLS".
	Reason string
}

func (e *TLSError) Error() string {
	return "session: TLS: " + e.Reason + " (xmppbg never continues without TLS)"
}

// ResumeFailedError describes a <failed/> answer to <resume/>. Connect does not
// return it (it goes on with a fresh session); it is found in Session.Login.
type ResumeFailedError struct {
	// Condition is the stanza error condition, e.g. "item-not-found".
	Condition string
	// H is the count of our stanzas the server handled, when HKnown.
	H      uint32
	HKnown bool
}

func (e *ResumeFailedError) Error() string {
	msg := "session: resumption failed: " + e.Condition
	if !e.HKnown {
		msg += " (server did not say what it received)"
	}
	return msg
}

// classifyTLS wraps certificate verification failures in CertificateError.
func classifyTLS(err error) error {
	if err == nil {
		return nil
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return &CertificateError{Err: err}
	}
	return err
}

// TooLargeError is the error of a message larger than the bound on
// outgoing messages (State.SendBound);
// errors.Is(err, ErrTooLarge) holds for it.
type TooLargeError struct {
	// Size is the message's size in bytes as written (resend included,
	// see CheckSize); Max the bound.
	Size, Max int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("session: message too large to send: %d bytes as written, above the %d bytes a server takes in one message", e.Size, e.Max)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }
