package session

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// The SASL2 authentication itself: which mechanism, the <authenticate/>
// element, the challenges, and the checks of <success/> before anything it
// says is applied (the server's proof, XEP-0474's hash).

// fastRefusedError: the server refused the FAST token; Connect logs in again
// with the password.
type fastRefusedError struct{ auth *AuthError }

func (e *fastRefusedError) Error() string { return "session: FAST token refused: " + e.auth.Error() }
func (e *fastRefusedError) Unwrap() error { return e.auth }

// errPLAINPinned is the error for an offer of PLAIN without SCRAM to an
// account the server authenticated with SCRAM or FAST before (State.NoPLAIN):
// the password is not handed over.
func errPLAINPinned() error {
	return &AuthError{Condition: CondDowngrade, Text: "the server offers PLAIN but no SCRAM, and it authenticated this account with SCRAM or FAST before: " +
		"the password is not sent in the clear (XEP-0474); if the server's configuration changed, start from a fresh state"}
}

// errSSDPPinned is the error for a login that lacks XEP-0474's protection
// from a server that gave it before (State.SSDP): what says so is why.
func errSSDPPinned(why string) error {
	return &AuthError{Condition: CondDowngrade, Text: "the server proved its SASL2 offer with XEP-0474 before, and now " + why +
		": someone on the path may be stripping the stronger login; if the server's configuration changed, start from a fresh state"}
}

// auth2 is one SASL2 authentication under way.
type auth2 struct {
	mech    string
	neg     *sasl.Negotiator
	fast    bool   // with the FAST token, not the password
	request string // the FAST mechanism a token was requested for
	resume  bool   // inline <resume/>
	enable  bool   // inline <enable/> in the Bind2 request
	steps   int    // challenges answered
}

// startSASL2 chooses how to authenticate against offer o and builds the
// <authenticate/> element.
func (s *Session) startSASL2(o *sasl2Offer, cs *tls.ConnectionState) (*auth2, []byte, error) {
	st := s.st
	cfg := s.cfg
	a := &auth2{}
	local, _ := jid.Parse(cfg.JID)
	user := local.Localpart()
	secret := cfg.Password
	// A token not bound to the channel (-NONE) is left aside when this
	// connection could bind one (XEP-0484: channel binding MUST be
	// preferred): the password login asks for a bound one instead.
	bindable := slices.Contains(o.FAST, mechHTExpr) && fastUsable(mechHTExpr, cs)
	if tok := st.FAST; tok.usable(cfg.now()) && slices.Contains(o.FAST, tok.Mechanism) && fastUsable(tok.Mechanism, cs) &&
		(tok.Mechanism != mechHTNone || !bindable) {
		a.mech, a.fast, secret = tok.Mechanism, true, tok.Token
	} else {
		a.mech = chooseMechanism(o, cs)
		if a.mech == "" {
			return nil, nil, &AuthError{Condition: "invalid-mechanism", Text: "the server offers no SASL2 mechanism this client supports: " + strings.Join(o.Mechanisms, " ")}
		}
		if a.mech == "PLAIN" && st.NoPLAIN {
			return nil, nil, errPLAINPinned()
		}
		switch {
		case o.FAST == nil:
		case bindable:
			a.request = mechHTExpr
		case slices.Contains(o.FAST, mechHTNone):
			a.request = mechHTNone
		}
	}
	var mech sasl.Mechanism
	switch a.mech {
	case mechHTExpr, mechHTNone:
		mech = htMechanism(a.mech)
	case "SCRAM-SHA-256-PLUS":
		mech = sasl.ScramSha256Plus
	case "SCRAM-SHA-1-PLUS":
		mech = sasl.ScramSha1Plus
	case "SCRAM-SHA-256":
		mech = sasl.ScramSha256
	case "SCRAM-SHA-1":
		mech = sasl.ScramSha1
	case "PLAIN":
		mech = sasl.Plain
	}
	opts := []sasl.Option{
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(secret), nil }),
		sasl.RemoteMechanisms(o.Mechanisms...),
	}
	if cs != nil {
		opts = append(opts, sasl.TLSState(*cs))
	}
	a.neg = sasl.NewClient(mech, opts...)
	_, first, err := a.neg.Step(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("session: SASL2 %s: %w", a.mech, err)
	}
	if st.UserAgent == "" {
		st.UserAgent = newUUID()
	}
	b := []byte(`<authenticate xmlns="urn:xmpp:sasl:2"`)
	b = appendAttr(b, "mechanism", a.mech)
	b = append(b, `><initial-response>`...)
	b = base64.StdEncoding.AppendEncode(b, first)
	if len(first) == 0 {
		b = append(b, '=')
	}
	b = append(b, `</initial-response><user-agent`...)
	b = appendAttr(b, "id", st.UserAgent)
	b = append(b, `><software>xmppbg</software></user-agent>`...)
	switch {
	case a.fast:
		b = append(b, `<fast xmlns="urn:xmpp:fast:0"/>`...)
	case a.request != "":
		b = append(b, `<request-token xmlns="urn:xmpp:fast:0"`...)
		b = appendAttr(b, "mechanism", a.request)
		b = append(b, `/>`...)
	}
	b = s.appendBind2(b, a, o)
	b = append(b, `</authenticate>`...)
	return a, b, nil
}

// chooseMechanism picks the strongest SCRAM the server offers: with
// tls-exporter channel binding when TLS 1.3 allows it and the server lists
// it, SHA-256 before SHA-1, PLAIN last (TLS is always on).
func chooseMechanism(o *sasl2Offer, cs *tls.ConnectionState) string {
	_, err := tlsExporter(cs)
	plus := err == nil && slices.Contains(o.ChannelBindings, "tls-exporter")
	for _, m := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		if strings.HasSuffix(m, "-PLUS") && !plus {
			continue
		}
		if slices.Contains(o.Mechanisms, m) {
			return m
		}
	}
	return ""
}

// finishSASL2 reads the server's answers, answering challenges, until
// <success/> or <failure/>, and applies the success. o is what the server
// offered in this stream's features (for XEP-0474).
func (s *Session) finishSASL2(ctx context.Context, xs *xmpp.Session, a *auth2, o *sasl2Offer) error {
	for {
		r := xs.TokenReader()
		d := xml.NewTokenDecoder(r)
		start, err := nextStart(d, "during SASL2")
		for err == nil && start.Name.Space == nsStream && start.Name.Local == "features" {
			// Prosody may send features where none belong: ignore them.
			if err = d.Skip(); err == nil {
				start, err = nextStart(d, "during SASL2")
			}
		}
		var res *sasl2Result
		if err == nil {
			switch {
			case start.Name.Space == nsStream && start.Name.Local == "error":
				err = decodeStreamError(d, start)
			case start.Name.Space == nsSASL2 && start.Name.Local == "continue":
				err = &AuthError{Condition: "unsupported-task", Text: "the server asks for a SASL2 task this client does not support"}
			default:
				res, err = parseSASL2(d, start)
			}
		}
		r.Close()
		if err != nil {
			return err
		}
		switch start.Name.Local {
		case "challenge":
			if a.steps == 0 && scramHash(a.mech) != nil {
				checked, err := checkDowngrade(res.Data, a.mech, o.Mechanisms, o.ChannelBindings)
				if err == nil && !checked && s.st.SSDP {
					err = errSSDPPinned("its SCRAM challenge lacks the XEP-0474 hash it gave before")
				}
				if err != nil {
					return s.violation(xs, err, "")
				}
				if checked {
					s.st.SSDP = true
				}
				s.log.Debug("SASL2", slog.String("mechanism", a.mech), slog.Bool("downgrade_protection", checked), slog.Bool("fast_token_requested", a.request != ""))
			}
			a.steps++
			if a.steps > 4 {
				return s.violation(xs, errors.New("session: too many SASL2 challenges"), "")
			}
			_, resp, err := a.neg.Step(res.Data)
			if err != nil {
				return s.violation(xs, &AuthError{Condition: "malformed-request", Text: "SASL2 " + a.mech + ": " + err.Error()}, "")
			}
			b := []byte(`<response xmlns="urn:xmpp:sasl:2">`)
			b = base64.StdEncoding.AppendEncode(b, resp)
			b = append(b, `</response>`...)
			if _, err := xs.Conn().Write(b); err != nil {
				return err
			}
		case "failure":
			ae := &AuthError{Condition: res.Condition, Text: res.Text}
			if a.fast {
				return &fastRefusedError{auth: ae}
			}
			return ae
		case "success":
			if err := s.onSuccess2(xs, a, o, res); err != nil {
				return err
			}
			if s.login.Resumed {
				return nil
			}
			return s.readFeaturesAfterBind2(xs)
		}
	}
}

// onSuccess2 checks the server's proof and applies what <success/> says:
// the FAST token, the resumed stream or the new one.
func (s *Session) onSuccess2(xs *xmpp.Session, a *auth2, o *sasl2Offer, res *sasl2Result) error {
	st := s.st
	proof := func() error {
		if a.mech == "PLAIN" {
			return nil
		}
		// SCRAM has answered one challenge by now; HT none.
		if !res.HasData || (a.fast && a.steps != 0) || (!a.fast && a.steps != 1) {
			return errors.New("the server claimed success without proving it knows the credentials")
		}
		if _, _, err := a.neg.Step(res.Data); err != nil {
			return err
		}
		return nil
	}
	if err := proof(); err != nil {
		return s.violation(xs, &AuthError{Condition: CondServerAuthFailed, Text: "SASL2 " + a.mech + ": " + err.Error()}, "")
	}
	s.login.SASL2, s.login.Mechanism = true, a.mech
	if a.mech != "PLAIN" {
		// The server proved it knows the credentials: PLAIN is never
		// used for this account again (XEP-0474's business rules).
		st.NoPLAIN = true
	}
	// Authenticated: remember the offer for a one-flight login next time.
	st.SASL2 = slices.Clone(o.Mechanisms)
	st.ChannelBindings = slices.Clone(o.ChannelBindings)
	st.FASTMechanisms = slices.Clone(o.FAST)
	if res.Token != "" {
		mech := a.request
		if a.fast {
			mech = a.mech
		}
		if mech == "" {
			mech = mechHTNone
			if slices.Contains(o.FAST, mechHTExpr) {
				mech = mechHTExpr
			}
		}
		t := &FASTToken{Mechanism: mech, Token: res.Token}
		if exp, err := time.Parse(time.RFC3339, res.Expiry); err == nil {
			t.Expiry = exp
		}
		st.FAST = t
	}
	fast := "none"
	if st.FAST != nil {
		fast = st.FAST.String() // never the token itself
	}
	s.log.Debug("SASL2 success", slog.String("mechanism", a.mech), slog.Bool("resumed", res.Resumed != nil),
		slog.Bool("new_fast_token", res.Token != ""), slog.String("fast", fast))
	return s.applyBind2(xs, a, o, res)
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
