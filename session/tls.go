package session

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"

	"mellium.im/xmpp"
)

const nsStartTLS = "urn:ietf:params:xml:ns:xmpp-tls"

// startTLS is mellium's STARTTLS feature made mandatory, and whose TLS
// connection is a pipeConn so that the stream after SASL can be pipelined.
//
// mellium negotiates an optional feature (STARTTLS without <required/>) and
// drops its error when it fails, then declares the stream ready: a server, or
// anyone on the path, that answers <failure/> or shows a certificate we do not
// trust would get the rest of the session in plaintext. Here STARTTLS is
// always required: Parse says so whatever the server wrote, a server that
// offers no STARTTLS at all is refused before anything is sent, and every
// failure is recorded in s.tlsErr for verifyLogin, which does not rely on
// mellium passing it on.
func (s *Session) startTLS(cfg *tls.Config) xmpp.StreamFeature {
	f := xmpp.StartTLS(cfg)
	parse := f.Parse
	f.Parse = func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
		_, data, err := parse(ctx, d, start)
		return true, data, err
	}
	f.Negotiate = func(ctx context.Context, xs *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
		rw, err := s.negotiateTLS(ctx, xs, cfg)
		if err != nil {
			s.tlsErr = err
			return 0, nil, err
		}
		return xmpp.Secure, rw, nil
	}
	return f
}

func (s *Session) negotiateTLS(ctx context.Context, xs *xmpp.Session, cfg *tls.Config) (io.ReadWriter, error) {
	// mellium selects STARTTLS even when the first features do not list it
	// (against a downgrade, RFC 7590), but then waits for an answer the
	// server never sends. Say at once what happened instead.
	if _, offered := xs.Feature(nsStartTLS); !offered {
		return nil, &TLSError{Reason: "the server does not offer STARTTLS"}
	}
	conn := xs.Conn()
	if _, err := conn.Write([]byte(`<starttls xmlns='` + nsStartTLS + `'/>`)); err != nil {
		return nil, err
	}
	r := xs.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	start, err := nextStart(d, "during STARTTLS")
	if err != nil {
		return nil, err
	}
	if err := d.Skip(); err != nil {
		return nil, err
	}
	switch {
	case start.Name.Space != nsStartTLS:
		return nil, &TLSError{Reason: fmt.Sprintf("the server answered STARTTLS with an unexpected <%s/>", start.Name.Local)}
	case start.Name.Local == "proceed":
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		s.pipe = newPipeConn(tc, s.cfg.MaxStanzaBytes)
		return s.pipe, nil
	case start.Name.Local == "failure":
		return nil, &TLSError{Reason: "the server refused STARTTLS"}
	default:
		return nil, &TLSError{Reason: fmt.Sprintf("the server answered STARTTLS with <%s/>", start.Name.Local)}
	}
}

// verifyLogin checks what mellium's negotiation does not promise: a stream it
// declared ready is encrypted with a verified certificate, authenticated and
// bound (or resumed). A server that ends negotiation early, by an empty
// feature list or a feature it drops, gets nothing more from us.
func (s *Session) verifyLogin(xs *xmpp.Session) error {
	if !s.cfg.plaintext {
		if s.tlsErr != nil {
			return s.tlsErr
		}
		var cs tls.ConnectionState
		if s.pipe != nil {
			cs = s.pipe.ConnectionState()
		}
		switch {
		case !cs.HandshakeComplete:
			return &TLSError{Reason: "the server ended negotiation without TLS"}
		case len(cs.VerifiedChains) == 0 && !s.cfg.TLS.InsecureSkipVerify:
			return &TLSError{Reason: "the server's certificate was not verified"}
		}
	}
	if xs.State()&xmpp.Authn == 0 {
		return fmt.Errorf("%w: the server ended negotiation before authentication", ErrLoginIncomplete)
	}
	if !s.bound {
		return fmt.Errorf("%w: the server ended negotiation before a resource was bound", ErrLoginIncomplete)
	}
	return nil
}
