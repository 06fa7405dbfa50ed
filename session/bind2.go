package session

import (
	"encoding/xml"
	"errors"
	"fmt"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Bind2 (XEP-0386) and XEP-0198 inside SASL2: the <resume/> and the Bind2
// request that <authenticate/> carries, and what the <success/> says about
// them. A <resume/> the server refuses falls through to the Bind2 request
// in the same round trip; what the old stream left unconfirmed is then
// resent by afterLogin with today's rules (delay and origin-id).

// appendBind2 appends to <authenticate/> b the <resume/> (when the State
// can be resumed) and the Bind2 request, with <enable/> when the server
// offers stream management inline.
func (s *Session) appendBind2(b []byte, a *auth2, o *sasl2Offer) []byte {
	st := s.st
	useSM := !s.cfg.DisableSM && (o.SM || o.bind2Has(nsSM))
	if useSM && s.shouldAskResume(st) {
		a.resume = true
		b = append(b, smResume(st.ID, st.InH)...)
	}
	b = append(b, `<bind xmlns="urn:xmpp:bind:0"><tag>xmppbg</tag>`...)
	if useSM && o.bind2Has(nsSM) {
		a.enable = true
		b = append(b, enableSM...)
	}
	return append(b, `</bind>`...)
}

// applyBind2 applies what an authenticated <success/> says of the stream:
// resumed, or bound afresh (after a refused <resume/>, or without one).
func (s *Session) applyBind2(xs *xmpp.Session, a *auth2, o *sasl2Offer, res *sasl2Result) error {
	st := s.st
	if res.Resumed != nil && !a.resume {
		return s.violation(xs, errors.New("session: the server resumed a stream the client did not ask to resume"), "")
	}
	if res.Resumed != nil {
		// The same stream: CSI as it was.
		s.csi = st.CSI
		return s.onResumed(xs, *res.Resumed)
	}
	if a.resume {
		el := smElement{Name: "failed", Condition: "undefined-condition"}
		if res.ResumeFailed != nil {
			el = *res.ResumeFailed
		}
		s.onResumeFailed(el)
	} else if st.ID != "" {
		if (o.SM || o.bind2Has(nsSM)) && !s.cfg.DisableSM {
			s.login.ResumeSkipped = ResumeSkipExpired
		} else {
			s.login.ResumeSkipped = ResumeSkipNoSM
		}
	}
	if !res.Bound {
		return fmt.Errorf("%w: the server authenticated without binding a resource (Bind2)", ErrLoginIncomplete)
	}
	j, err := jid.Parse(res.JID)
	if err != nil || j.Resourcepart() == "" {
		return fmt.Errorf("session: the server bound an invalid JID %q", res.JID)
	}
	st.orphan()
	st.SM = false
	xs.UpdateAddr(j)
	s.bound = true
	// CSI: said in the Bind2 offer (Prosody) or in the features after the
	// success (ejabberd: readFeaturesAfterBind2).
	s.csi = o.bind2Has(nsCSI)
	st.CSI = s.csi
	switch {
	case a.enable && res.Enabled != nil:
		return s.onEnabled(*res.Enabled)
	case a.enable:
		s.emit(Warning{Text: "the server did not answer the request for stream management: delivery is not guaranteed"})
	}
	return nil
}

// readFeaturesAfterBind2 reads the stream features that follow the
// <success/> of a fresh session (no restart with SASL2: they come at once;
// Prosody 13 and ejabberd 24.12 both send them). They say whether the
// server does CSI, which ejabberd says nowhere else. After a resumption
// XEP-0198 forbids them, so nothing is awaited then; Prosody sends them
// anyway and the read loop skips them.
func (s *Session) readFeaturesAfterBind2(xs *xmpp.Session) error {
	r := xs.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	start, err := nextStart(d, "after SASL2 success")
	f := &features{}
	switch {
	case isUnknownStreamElement(err):
		// After features mellium negotiated, its reader refuses
		// stream-level elements: the features' start is behind us.
		err = skipStreamElement(r, f)
	case err != nil:
	case start.Name.Space != nsStream || start.Name.Local != "features":
		err = fmt.Errorf("session: <%s/> after SASL2 success instead of the stream features", start.Name.Local)
	default:
		f, err = parseFeatures(d, start)
	}
	if err != nil {
		return err
	}
	if f.CSI {
		s.csi = true
		s.st.CSI = true
	}
	if f.MaxBytes == 0 {
		// Prosody 13 states it before authentication only: the same
		// limit (it has one, c2s_stanza_size_limit).
		f.MaxBytes = featureLimit(xs)
	}
	s.st.SendLimit = f.MaxBytes
	return nil
}
