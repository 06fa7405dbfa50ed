package session

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// loginError turns a negotiation failure into the package's typed errors.
func (s *Session) loginError(ctx context.Context, err error) error {
	var (
		se    stream.Error
		auth  *AuthError
		sterr *StreamError
		tlsE  *TLSError
		netE  net.Error
	)
	switch {
	case errors.As(err, &auth), errors.As(err, &sterr), errors.As(err, &tlsE), errors.Is(err, ErrLoginIncomplete):
		return err
	case errors.As(err, &se):
		return &StreamError{Condition: se.Err, Text: streamErrorText(se)}
	}
	if ce := classifyTLS(err); ce != err {
		return ce
	}
	if ctx.Err() != nil {
		return fmt.Errorf("session: login: %w", ctx.Err())
	}
	if errors.As(err, &netE) && netE.Timeout() {
		// The socket deadline (the login timeout, or just before the
		// context's) passed: say so in a way callers can match.
		return &ConnError{Op: "login", Err: fmt.Errorf("%w: %v", context.DeadlineExceeded, err)}
	}
	if errors.As(err, &netE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return &ConnError{Op: "login", Err: err}
	}
	return fmt.Errorf("session: login: %w", err)
}

func streamErrorText(se stream.Error) string {
	for _, t := range se.Text {
		if t.Value != "" {
			return t.Value
		}
	}
	return ""
}

// saslFeature is mellium's SASL feature with SCRAM-SHA-256 first, then
// SCRAM-SHA-1, then PLAIN, with its failures turned into AuthError. TLS is
// always on before it runs: mellium checks that itself unless tlsKnown says
// the connection was secured outside its view (direct TLS, or the in-memory
// tests). After a success it pipelines what follows (see pipeline.go).
func (s *Session) saslFeature(password string, tlsKnown bool) xmpp.StreamFeature {
	f := xmpp.SASL("", password, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain)
	if tlsKnown {
		f.Necessary &^= xmpp.Secure
	}
	negotiate := f.Negotiate
	f.Negotiate = func(ctx context.Context, xs *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		if s.offered(xs) != nil {
			// The server offers SASL2 too: that is the login to use,
			// whichever of the two features mellium picked first.
			return s.negotiateSASL2(ctx, xs)
		}
		if s.st.SSDP && s.sasl2On() {
			return 0, nil, errSSDPPinned("it offers no SASL2")
		}
		// The classic login: forget any SASL2 seen before.
		s.st.forgetSASL2()
		// mellium picks SCRAM whenever it is offered, and checks the
		// server's signature; PLAIN only when no SCRAM is offered.
		offered, _ := data.([]string)
		scram := slices.Contains(offered, sasl.ScramSha256.Name) || slices.Contains(offered, sasl.ScramSha1.Name)
		if !scram && s.st.NoPLAIN && slices.Contains(offered, sasl.Plain.Name) {
			return 0, nil, errPLAINPinned()
		}
		mask, rw, err := negotiate(ctx, xs, data)
		if err == nil {
			if scram {
				s.st.NoPLAIN = true
			}
			s.armPipeline()
		}
		return mask, rw, asAuthError(err)
	}
	return f
}

// armPipeline prepares what the stream after SASL carries with its header:
// <resume/> when the State can (or should) be resumed, else the bind request
// and, when the server offered stream management before, <enable/>.
func (s *Session) armPipeline() {
	if s.pipe == nil || s.cfg.NoPipelining {
		return
	}
	st := s.st
	smKnown := st.SM && !s.cfg.DisableSM
	switch {
	case smKnown && s.shouldAskResume(st):
		s.early.resume = true
		s.pipe.arm(smResume(st.ID, st.InH))
		return
	case s.shouldAskResume(st) && !s.cfg.DisableSM:
		// A stream to resume, but no word yet that this server does
		// stream management: wait for its features.
		return
	}
	s.early.bind = true
	s.early.bindID = NewID()
	b := bindRequest(s.early.bindID)
	if smKnown {
		s.early.enable = true
		b = append(b, enableSM...)
	}
	s.pipe.arm(b)
}

// shouldAskResume: the stream is resumable, or past the server's max with
// stanzas unconfirmed (then <failed h/> says which ones the server has, the
// only way to resend exactly those it lacks).
func (s *Session) shouldAskResume(st *State) bool {
	return st.Resumable(s.cfg.now()) || st.ID != "" && len(st.Unacked) > 0
}

// asAuthError converts mellium's SASL failure (an internal type) into
// AuthError by its shape.
func asAuthError(err error) error {
	if err == nil {
		return nil
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Struct && v.Type().Name() == "Error" && v.Type().PkgPath() == "mellium.im/xmpp/internal/saslerr" {
		cond := "not-authorized"
		if f := v.FieldByName("Condition"); f.IsValid() && f.CanInterface() {
			if s, ok := f.Interface().(fmt.Stringer); ok {
				cond = s.String()
			}
		}
		var text string
		if f := v.FieldByName("Text"); f.IsValid() && f.Kind() == reflect.String {
			text = f.String()
		}
		return &AuthError{Condition: cond, Text: text}
	}
	if errors.Is(err, sasl.ErrAuthn) {
		return &AuthError{Condition: CondServerAuthFailed, Text: err.Error()}
	}
	return err
}

// bindFeature replaces mellium's BindResource: it resumes the earlier stream
// when it can, else binds a resource and enables stream management. It is
// keyed on bind so that servers without stream management work too.
func (s *Session) bindFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, xs *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			return xmpp.Ready, nil, s.negotiate(ctx, xs)
		},
	}
}

func (s *Session) negotiate(ctx context.Context, xs *xmpp.Session) error {
	_, smOffered := xs.Feature(nsSM)
	_, s.csi = xs.Feature(nsCSI)
	s.st.CSI = s.csi
	useSM := smOffered && !s.cfg.DisableSM
	st := s.st
	// The features before <resume/> or <bind/> say it (XEP-0478), or the
	// server no longer does.
	st.SendLimit = featureLimit(xs)

	if s.early.resume || useSM && s.shouldAskResume(st) {
		var el smElement
		var err error
		if s.early.resume {
			el, err = s.readSM(xs)
		} else {
			el, err = s.exchange(xs, smResume(st.ID, st.InH))
		}
		if err != nil {
			return err
		}
		switch el.Name {
		case "resumed":
			return s.onResumed(xs, el)
		case "failed":
			s.onResumeFailed(el)
		default:
			return fmt.Errorf("session: unexpected <%s/> in answer to <resume/>", el.Name)
		}
	} else if st.ID != "" {
		if useSM {
			s.login.ResumeSkipped = ResumeSkipExpired
		} else {
			s.login.ResumeSkipped = ResumeSkipNoSM
		}
	}
	// A fresh stream: whatever the old one left unconfirmed is resent by
	// afterLogin.
	st.orphan()
	st.SM = useSM

	if !s.early.bind {
		s.early.bindID = NewID()
		b := bindRequest(s.early.bindID)
		if useSM && !s.cfg.NoPipelining {
			// Pipelined: the server enables after it has bound.
			s.early.enable = true
			b = append(b, enableSM...)
		}
		if _, err := xs.Conn().Write(b); err != nil {
			return err
		}
	}
	bound, err := readBind(xs, s.early.bindID)
	if err != nil {
		return err
	}
	j, err := jid.Parse(bound)
	if err != nil {
		return fmt.Errorf("session: the server bound an invalid JID %q: %w", bound, err)
	}
	xs.UpdateAddr(j)
	s.bound = true
	if !s.early.enable && !useSM {
		return nil
	}
	var el smElement
	if s.early.enable {
		el, err = s.readSM(xs)
	} else {
		el, err = s.exchange(xs, []byte(enableSM))
	}
	if err != nil {
		return err
	}
	return s.onEnabled(el)
}

// onResumed applies the server's <resumed/>: the stream is the old one,
// and h says which of our stanzas it got.
func (s *Session) onResumed(xs *xmpp.Session, el smElement) error {
	st := s.st
	if el.PrevID != "" && el.PrevID != st.ID {
		// Never the ids themselves in an error: they are secrets.
		return s.violation(xs, errors.New("session: the server resumed another stream than the one asked for"), "")
	}
	acked, err := st.ack(el.H)
	if err != nil {
		return s.violation(xs, err, handledCountTooHigh(el.H, st))
	}
	s.sm = true
	st.SM = true
	s.login.Resumed = true
	s.bound = true
	if j, err := jid.Parse(st.JID); err == nil {
		xs.UpdateAddr(j)
	}
	if len(acked) > 0 {
		s.emit(Acked{Stanzas: refs(acked)})
	}
	return nil
}

// onResumeFailed records the server's <failed/> in answer to <resume/>;
// its h, when it has one, confirms what the old stream delivered.
func (s *Session) onResumeFailed(el smElement) {
	rf := &ResumeFailedError{Condition: el.Condition, H: el.H, HKnown: el.HSet}
	if el.HSet {
		acked, err := s.st.ack(el.H)
		if err != nil {
			// The old stream is gone anyway; keep everything
			// rather than trust a count that cannot be right.
			s.log.Warn("ignoring impossible h in <failed/>", slog.Any("err", err))
			rf.HKnown = false
		} else if len(acked) > 0 {
			s.emit(Acked{Stanzas: refs(acked)})
		}
	}
	s.login.ResumeFailed = rf
}

// onEnabled applies the answer to <enable/>.
func (s *Session) onEnabled(el smElement) error {
	st := s.st
	switch el.Name {
	case "enabled":
		s.sm = true
		st.SM = true
		if el.Resume {
			st.ID = el.ID
		}
		st.Max = time.Duration(el.Max) * time.Second
		st.Location = locationAddr(el.Location)
	case "failed":
		st.SM = false
		s.emit(Warning{Text: "the server refused stream management (" + el.Condition + "): delivery is not guaranteed"})
	default:
		return fmt.Errorf("session: unexpected <%s/> in answer to <enable/>", el.Name)
	}
	return nil
}

// exchange writes a nonza during negotiation and reads the XEP-0198 element
// that answers it.
func (s *Session) exchange(xs *xmpp.Session, out []byte) (smElement, error) {
	if _, err := xs.Conn().Write(out); err != nil {
		return smElement{}, err
	}
	return s.readSM(xs)
}

// readSM reads the next XEP-0198 element during negotiation.
func (s *Session) readSM(xs *xmpp.Session) (smElement, error) {
	r := xs.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	t, err := nextStart(d, "during stream management negotiation")
	if err != nil {
		return smElement{}, err
	}
	if t.Name.Space != nsSM {
		return smElement{}, fmt.Errorf("session: unexpected <%s xmlns=%q/> during stream management negotiation", t.Name.Local, t.Name.Space)
	}
	return parseSM(d, t)
}

// nextStart reads the next element's start during negotiation, skipping
// the whitespace between elements; anything else (a comment, a processing
// instruction, text) is an error, where it is found.
func nextStart(d *xml.Decoder, where string) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
			return xml.StartElement{}, fmt.Errorf("session: unexpected text %s", where)
		case xml.StartElement:
			return t, nil
		default:
			return xml.StartElement{}, fmt.Errorf("session: unexpected %T %s", tok, where)
		}
	}
}

// violation ends the stream with undefined-condition (and the
// application-specific condition app, when not empty) for a protocol error
// found during negotiation.
func (s *Session) violation(xs *xmpp.Session, err error, app string) error {
	_, _ = xs.Conn().Write([]byte(streamErrorXML("undefined-condition", app)))
	return err
}

// streamErrorXML is a stream error with condition cond and the
// application-specific condition app (raw XML, may be empty), then the end
// of the stream.
func streamErrorXML(cond, app string) string {
	return `<stream:error><` + cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` + app + `</stream:error></stream:stream>`
}

// handledCountTooHigh is XEP-0198's application-specific condition for an
// <a/> or <resumed/> whose h acknowledges more than was sent.
func handledCountTooHigh(h uint32, st *State) string {
	sent := st.OutH + uint32(len(st.Unacked))
	return `<handled-count-too-high xmlns="urn:xmpp:sm:3" h="` + strconv.FormatUint(uint64(h), 10) +
		`" send-count="` + strconv.FormatUint(uint64(sent), 10) + `"/>`
}

// locationAddr turns XEP-0198's location (host, host:port, [v6] or
// [v6]:port) into an address to dial: without a port, the client port.
func locationAddr(loc string) string {
	if loc == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(loc); err == nil {
		return loc
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(loc, "["), "]"), DefaultPort)
}
