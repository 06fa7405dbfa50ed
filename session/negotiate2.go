package session

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// How the login is chosen. The server's features decide between SASL2 and
// classic SASL, never mellium's map order: the classic SASL feature hands
// over to SASL2 when the server offers it (sasl2Feature does the same for
// itself, and hands back to classic SASL when the offer lacks Bind2). When
// the State says the server offered SASL2 at the last login, the client
// does not wait for the features at all: the stream header and
// <authenticate> go out in one flight (oneFlight), which both Prosody 13
// and ejabberd 24.12 accept. When the features that arrive show that the
// offer changed (no SASL2, another mechanism), the State forgets it and
// Connect tries again, reading the features first.

// errSASL2Gone: the server no longer offers SASL2 as the State remembers
// it; Connect logs in again after reading the features.
var errSASL2Gone = errors.New("session: the server no longer offers SASL2 as remembered")

// sasl2On reports whether SASL2 may be used at all.
func (s *Session) sasl2On() bool { return !s.cfg.NoSASL2 }

// negotiator runs the login: one flight when the State knows the server
// does SASL2 (and pipelining is on), else mellium's negotiator over feats
// (STARTTLS first when needed, also before a one-flight login).
func (s *Session) negotiator(feats []xmpp.StreamFeature, tlsKnown bool) xmpp.Negotiator {
	stock := xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: feats}
	})
	one := s.sasl2On() && len(s.st.SASL2) > 0 && !s.cfg.NoPipelining
	return func(ctx context.Context, in, out *stream.Info, xs *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, any, error) {
		if one && (tlsKnown || xs.State()&xmpp.Secure != 0) {
			one = false
			mask, err := s.oneFlight(ctx, in, out, xs)
			return mask, nil, nil, err
		}
		return stock(ctx, in, out, xs, data)
	}
}

// sasl2Feature negotiates SASL2 when the server offers it in its features,
// or classic, the classic SASL feature, when the offer is not one this
// client uses (no Bind2).
func (s *Session) sasl2Feature(tlsKnown bool, classic xmpp.StreamFeature) xmpp.StreamFeature {
	f := xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASL2, Local: "authentication"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			var n node
			if err := d.DecodeElement(&n, start); err != nil {
				return true, nil, err
			}
			return true, parseSASL2Offer(&n), nil
		},
		Negotiate: func(ctx context.Context, xs *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			if s.offered(xs) == nil {
				data, _ := xs.Feature(nsSASL)
				return classic.Negotiate(ctx, xs, data)
			}
			return s.negotiateSASL2(ctx, xs)
		},
	}
	if tlsKnown {
		f.Necessary &^= xmpp.Secure
	}
	return f
}

// channelBindingFeature reads XEP-0440's list of channel-binding types,
// which SASL2 (and XEP-0474's check) needs.
func channelBindingFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name: xml.Name{Space: nsSASLCB, Local: "sasl-channel-binding"},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			var n node
			if err := d.DecodeElement(&n, start); err != nil {
				return false, nil, err
			}
			return false, parseChannelBindings(&n), nil
		},
	}
}

// offered returns the SASL2 offer among the features mellium read, nil
// when there is none (or SASL2 is off).
func (s *Session) offered(xs *xmpp.Session) *sasl2Offer {
	if !s.sasl2On() {
		return nil
	}
	data, _ := xs.Feature(nsSASL2)
	o, _ := data.(*sasl2Offer)
	if o == nil || !o.Bind2 {
		// SASL2 without Bind2 would need the classic bind after it:
		// the classic login does the same in as many round trips.
		return nil
	}
	if cb, ok := xs.Feature(nsSASLCB); ok {
		o.ChannelBindings, _ = cb.([]string)
	}
	return o
}

// negotiateSASL2 is SASL2 after the features: authenticate, bind (or
// resume) in one exchange. The stream is then ready, without a restart.
func (s *Session) negotiateSASL2(ctx context.Context, xs *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	o := s.offered(xs)
	if o == nil {
		return 0, nil, errors.New("session: SASL2 selected but not offered")
	}
	a, req, err := s.startSASL2(o, s.tlsState(xs))
	if err != nil {
		return 0, nil, err
	}
	if _, err := xs.Conn().Write(req); err != nil {
		return 0, nil, err
	}
	if err := s.finishSASL2(ctx, xs, a, o); err != nil {
		return 0, nil, err
	}
	return xmpp.Authn | xmpp.Ready, nil, nil
}

func (s *Session) tlsState(xs *xmpp.Session) *tls.ConnectionState {
	if s.pipe != nil {
		if cs := s.pipe.ConnectionState(); cs.HandshakeComplete {
			return &cs
		}
	}
	if cs := xs.ConnectionState(); cs.HandshakeComplete {
		return &cs
	}
	return nil
}

// oneFlight writes the stream header and <authenticate> together, as the
// State remembers the server's offer, then reads the server's header, its
// features and the answer.
func (s *Session) oneFlight(ctx context.Context, in, out *stream.Info, xs *xmpp.Session) (xmpp.SessionState, error) {
	st := s.st
	remembered := &sasl2Offer{
		Mechanisms:      st.SASL2,
		ChannelBindings: st.ChannelBindings,
		Bind2:           true,
		SM:              st.SM,
	}
	if st.SM {
		remembered.Bind2Features = []string{nsSM}
	}
	if len(st.FASTMechanisms) > 0 {
		remembered.FAST = st.FASTMechanisms
	}
	a, req, err := s.startSASL2(remembered, s.tlsState(xs))
	if err != nil {
		return 0, err
	}
	local := xs.LocalAddr()
	domain := local.Domain()
	hdr := []byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'`)
	hdr = appendAttr(hdr, "to", domain.String())
	hdr = appendAttr(hdr, "from", local.Bare().String())
	hdr = append(hdr, '>')
	if _, err := xs.Conn().Write(append(hdr, req...)); err != nil {
		return 0, err
	}
	out.XMLNS = stanza.NSClient
	out.To, out.From = domain, local

	r := xs.TokenReader()
	d := xml.NewTokenDecoder(r)
	err = readServerHeader(d, in, domain)
	var f *features
	if err == nil {
		var start xml.StartElement
		start, err = nextStart(d, "before the stream features")
		switch {
		case err != nil:
		case start.Name.Space == nsStream && start.Name.Local == "error":
			err = decodeStreamError(d, start)
		case start.Name.Space != nsStream || start.Name.Local != "features":
			err = fmt.Errorf("session: unexpected <%s/> instead of the stream features", start.Name.Local)
		default:
			f, err = parseFeatures(d, start)
		}
	}
	r.Close()
	if err != nil {
		return 0, err
	}
	switch {
	case f.SASL2 == nil || !f.SASL2.Bind2:
		return 0, errSASL2Gone
	case !a.fast && !slices.Contains(f.SASL2.Mechanisms, a.mech),
		!a.fast && strings.HasSuffix(a.mech, "-PLUS") && !slices.Contains(f.SASL2.ChannelBindings, "tls-exporter"):
		// The offer changed since it was remembered: the server is
		// about to refuse a mechanism it no longer has, or the
		// tls-exporter channel binding it no longer lists (the -PLUS
		// mechanism may stay, with tls-server-end-point only). Read
		// the features first next time.
		return 0, errSASL2Gone
	}
	if f.StartTLS && !s.cfg.plaintext && !s.cfg.DirectTLS && xs.State()&xmpp.Secure == 0 {
		return 0, &TLSError{Reason: "the server ended negotiation without TLS"}
	}
	if err := s.finishSASL2(ctx, xs, a, f.SASL2); err != nil {
		return 0, err
	}
	return xmpp.Secure | xmpp.Authn | xmpp.Ready, nil
}

// readServerHeader reads the server's stream header.
func readServerHeader(d *xml.Decoder, in *stream.Info, domain jid.JID) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.ProcInst, xml.CharData:
			continue
		case xml.StartElement:
			if t.Name.Space != nsStream || t.Name.Local != "stream" {
				return fmt.Errorf("session: the server did not open a stream but sent <%s/>", t.Name.Local)
			}
			in.Name = t.Name
			in.From = domain
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "id":
					in.ID = a.Value
				case "version":
					_ = in.Version.UnmarshalXMLAttr(a)
				}
			}
			return nil
		default:
			return fmt.Errorf("session: unexpected %T before the stream header", tok)
		}
	}
}

// decodeStreamError reads a <stream:error/> into a StreamError.
func decodeStreamError(d *xml.Decoder, start xml.StartElement) error {
	var n node
	if err := d.DecodeElement(&n, &start); err != nil {
		return err
	}
	se := &StreamError{Condition: "undefined-condition"}
	for _, c := range n.Nodes {
		switch c.XMLName.Local {
		case "text":
			se.Text = c.Text
		default:
			if c.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-streams" {
				se.Condition = c.XMLName.Local
			}
		}
	}
	return se
}

// retryLogin reports whether a login that failed with err is worth one more
// try, with what made it fail forgotten: a FAST token the server refused
// (the password then), or a SASL2 offer remembered from a server that no
// longer makes it (the login then reads the features first: SASL2 as now
// offered, or the classic login). Neither can happen twice in a row.
// forgetSASL2 forgets what the server offered with SASL2.
func (st *State) forgetSASL2() {
	st.SASL2, st.ChannelBindings, st.FASTMechanisms = nil, nil, nil
}

func (s *Session) retryLogin(err error) bool {
	var fr *fastRefusedError
	switch {
	case errors.As(err, &fr):
		s.log.Info("FAST token refused, logging in with the password", "condition", fr.auth.Condition)
		s.st.FAST = nil
		return true
	case errors.Is(err, errSASL2Gone):
		s.log.Info("the server's SASL2 offer changed, logging in again after its features")
		s.st.forgetSASL2()
		return true
	}
	return false
}

// errUnknownStreamElement is the text of mellium's (internal) error for a
// stream-level element it does not know, such as <stream:features/> once
// the stream is ready.
const errUnknownStreamElement = "xmpp: unknown stream level element"

// streamFeaturesSkipper drops the <stream:features/> that servers send
// after a SASL2 success, which mellium's reader refuses once the stream is
// ready (Prosody even sends them after an inline resumption). mellium has
// already counted the element open when it says so; its end then comes
// back as stream.BadFormat, the end of what is skipped. Nothing in it is a
// stanza, so nothing is counted for XEP-0198. (The features after a fresh
// SASL2 session are read by the login itself: readFeaturesAfterBind2.)
type streamFeaturesSkipper struct{ r xml.TokenReader }

func (s streamFeaturesSkipper) Token() (xml.Token, error) {
	for {
		tok, err := s.r.Token()
		if !isUnknownStreamElement(err) {
			return tok, err
		}
		if err := skipStreamElement(s.r, nil); err != nil {
			return nil, err
		}
	}
}

func isUnknownStreamElement(err error) bool {
	return err != nil && err.Error() == errUnknownStreamElement
}

// skipStreamElement reads the rest of a stream-level element mellium
// refused as unknown. When it is the stream features and f is not nil, it
// notes in f what the features offer that the login needs after Bind2: CSI
// and XEP-0478's max-bytes.
func skipStreamElement(r xml.TokenReader, f *features) error {
	depth := 0
	var inMax bool
	var text strings.Builder
	for {
		tok, err := r.Token()
		if depth == 0 && errors.Is(err, stream.BadFormat) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if f != nil && depth == 0 && t.Name.Space == nsCSI && t.Name.Local == "csi" {
				f.CSI = true
			}
			inMax = f != nil && depth == 1 && t.Name.Space == nsLimits && t.Name.Local == "max-bytes"
			depth++
		case xml.CharData:
			if inMax && text.Len() < 32 {
				text.Write(t)
			}
		case xml.EndElement:
			if inMax {
				f.MaxBytes = parseMaxBytes(text.String())
				inMax = false
			}
			depth--
		}
	}
}
