package session

import (
	"crypto/sha1" //nolint:gosec // SCRAM-SHA-1 is what XEP-0474 hashes with for it
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// SASL2 (XEP-0388): authentication, resource binding (Bind2, XEP-0386),
// stream management (XEP-0198 inline) and FAST tokens (XEP-0484) in one
// exchange, without a stream restart. This file parses what the server
// offers and answers; negotiate2.go runs the exchange.

const (
	nsSASL2  = "urn:xmpp:sasl:2"
	nsBind2  = "urn:xmpp:bind:0"
	nsFAST   = "urn:xmpp:fast:0"
	nsSASLCB = "urn:xmpp:sasl-cb:0"
	nsSASL   = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// CondDowngrade is the AuthError condition for a SCRAM exchange whose
// XEP-0474 hash says the mechanisms or channel bindings the client saw are
// not those the server offered: someone on the path removed the stronger
// ones.
const CondDowngrade = "downgrade-detected"

// sasl2Offer is what <authentication xmlns='urn:xmpp:sasl:2'/> and the
// features beside it offer.
type sasl2Offer struct {
	Mechanisms []string
	// FAST lists the HT mechanisms offered inline; nil without FAST.
	FAST []string
	// Bind2 is set when Bind2 is offered inline; Bind2Features lists what
	// it can do inline (urn:xmpp:sm:3, urn:xmpp:csi:0, …).
	Bind2         bool
	Bind2Features []string
	// SM is set when inline <resume/> is offered.
	SM bool
	// ChannelBindings lists the XEP-0440 types beside it.
	ChannelBindings []string
}

func (o *sasl2Offer) bind2Has(ns string) bool { return slices.Contains(o.Bind2Features, ns) }

// parseSASL2Offer decodes an <authentication/> element already read as n.
func parseSASL2Offer(n *node) *sasl2Offer {
	o := &sasl2Offer{}
	for _, c := range n.Nodes {
		switch c.XMLName.Local {
		case "mechanism":
			if m := strings.TrimSpace(c.Text); m != "" {
				o.Mechanisms = append(o.Mechanisms, m)
			}
		case "inline":
			for _, in := range c.Nodes {
				switch {
				case in.XMLName.Space == nsFAST && in.XMLName.Local == "fast":
					o.FAST = []string{}
					for _, m := range in.Nodes {
						if m.XMLName.Local == "mechanism" {
							o.FAST = append(o.FAST, strings.TrimSpace(m.Text))
						}
					}
				case in.XMLName.Space == nsBind2 && in.XMLName.Local == "bind":
					o.Bind2 = true
					for _, bi := range in.Nodes {
						if bi.XMLName.Local != "inline" {
							continue
						}
						for _, f := range bi.Nodes {
							if v := f.attr("var"); f.XMLName.Local == "feature" && v != "" {
								o.Bind2Features = append(o.Bind2Features, v)
							}
						}
					}
				case in.XMLName.Space == nsSM && in.XMLName.Local == "sm":
					o.SM = true
				}
			}
		}
	}
	return o
}

// parseChannelBindings decodes <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'/>.
func parseChannelBindings(n *node) []string {
	var out []string
	for _, c := range n.Nodes {
		if t := c.attr("type"); c.XMLName.Local == "channel-binding" && t != "" {
			out = append(out, t)
		}
	}
	return out
}

// features is what one <stream:features/> offers, as far as the login
// cares.
type features struct {
	SASL2      *sasl2Offer
	Mechanisms []string // classic SASL
	StartTLS   bool
	SM, CSI    bool
	Bind       bool
	MaxBytes   int // XEP-0478's max-bytes, 0 for none
}

// parseFeatures decodes <stream:features/>, whose start d has just read.
func parseFeatures(d *xml.Decoder, start xml.StartElement) (*features, error) {
	var n node
	if err := d.DecodeElement(&n, &start); err != nil {
		return nil, fmt.Errorf("session: malformed stream features: %w", err)
	}
	f := &features{}
	var cb []string
	for _, c := range n.Nodes {
		switch c.XMLName {
		case xml.Name{Space: nsSASL2, Local: "authentication"}:
			f.SASL2 = parseSASL2Offer(&c)
		case xml.Name{Space: nsSASLCB, Local: "sasl-channel-binding"}:
			cb = parseChannelBindings(&c)
		case xml.Name{Space: nsSASL, Local: "mechanisms"}:
			for _, m := range c.Nodes {
				if m.XMLName.Local == "mechanism" {
					f.Mechanisms = append(f.Mechanisms, strings.TrimSpace(m.Text))
				}
			}
		case xml.Name{Space: nsStartTLS, Local: "starttls"}:
			f.StartTLS = true
		case xml.Name{Space: nsSM, Local: "sm"}:
			f.SM = true
		case xml.Name{Space: nsCSI, Local: "csi"}:
			f.CSI = true
		case xml.Name{Space: nsBind, Local: "bind"}:
			f.Bind = true
		case xml.Name{Space: nsLimits, Local: "limits"}:
			f.MaxBytes = limitsMaxBytes(&c)
		}
	}
	if f.SASL2 != nil {
		f.SASL2.ChannelBindings = cb
	}
	return f, nil
}

// sasl2Result is a parsed <success/> or <failure/> (or <challenge/>, with
// only Data) of SASL2.
type sasl2Result struct {
	// Data is the additional-data, or the challenge, decoded.
	Data    []byte
	HasData bool
	// JID is the authorization-identifier.
	JID string
	// Token and Expiry are the FAST <token/>, when one came.
	Token  string
	Expiry string
	// Resumed or ResumeFailed: the answer to an inline <resume/>.
	Resumed      *smElement
	ResumeFailed *smElement
	// Bound is set when Bind2 bound a resource; Enabled is the answer to
	// the inline <enable/> in it (enabled or failed).
	Bound   bool
	Enabled *smElement
	// Condition and Text are a <failure/>'s.
	Condition, Text string
}

var errBadSASL2 = errors.New("session: malformed SASL2 element")

// parseSASL2 decodes the SASL2 element start opens: challenge, success or
// failure. It never panics, and refuses what does not fit.
func parseSASL2(d *xml.Decoder, start xml.StartElement) (*sasl2Result, error) {
	var n node
	if err := d.DecodeElement(&n, &start); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSASL2, err)
	}
	return sasl2FromNode(&n)
}

func sasl2FromNode(n *node) (*sasl2Result, error) {
	r := &sasl2Result{}
	if n.XMLName.Space != nsSASL2 {
		return nil, fmt.Errorf("%w: <%s xmlns=%q/>", errBadSASL2, n.XMLName.Local, n.XMLName.Space)
	}
	b64 := func(s string) ([]byte, error) {
		s = strings.TrimSpace(s)
		if s == "=" {
			return []byte{}, nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: data is not base64", errBadSASL2)
		}
		return b, nil
	}
	switch n.XMLName.Local {
	case "challenge":
		b, err := b64(n.Text)
		if err != nil {
			return nil, err
		}
		r.Data, r.HasData = b, true
		return r, nil
	case "failure":
		r.Condition = "not-authorized"
		for _, c := range n.Nodes {
			switch {
			case c.XMLName.Local == "text":
				r.Text = c.Text
			case c.XMLName.Space == nsSASL:
				r.Condition = c.XMLName.Local
			}
		}
		return r, nil
	case "success":
	default:
		return nil, fmt.Errorf("%w: unexpected <%s/>", errBadSASL2, n.XMLName.Local)
	}
	for _, c := range n.Nodes {
		switch c.XMLName {
		case xml.Name{Space: nsSASL2, Local: "additional-data"}:
			b, err := b64(c.Text)
			if err != nil {
				return nil, err
			}
			r.Data, r.HasData = b, true
		case xml.Name{Space: nsSASL2, Local: "authorization-identifier"}:
			r.JID = strings.TrimSpace(c.Text)
		case xml.Name{Space: nsFAST, Local: "token"}:
			r.Token, r.Expiry = c.attr("token"), c.attr("expiry")
			if r.Token == "" {
				return nil, fmt.Errorf("%w: FAST token without a token", errBadSASL2)
			}
		case xml.Name{Space: nsSM, Local: "resumed"}, xml.Name{Space: nsSM, Local: "failed"}:
			el, err := smFromNode(c.XMLName, c.Attrs, c.Nodes)
			if err != nil {
				return nil, err
			}
			if el.Name == "resumed" {
				r.Resumed = &el
			} else {
				r.ResumeFailed = &el
			}
		case xml.Name{Space: nsBind2, Local: "bound"}:
			r.Bound = true
			for _, b := range c.Nodes {
				if b.XMLName.Space != nsSM || b.XMLName.Local != "enabled" && b.XMLName.Local != "failed" {
					continue
				}
				el, err := smFromNode(b.XMLName, b.Attrs, b.Nodes)
				if err != nil {
					return nil, err
				}
				r.Enabled = &el
			}
		}
	}
	if r.Resumed != nil && r.ResumeFailed != nil {
		return nil, fmt.Errorf("%w: both <resumed/> and <failed/>", errBadSASL2)
	}
	return r, nil
}

// scramHash is the hash of a SCRAM mechanism, for XEP-0474.
func scramHash(mech string) func() hash.Hash {
	switch strings.TrimSuffix(mech, "-PLUS") {
	case "SCRAM-SHA-1":
		return sha1.New
	case "SCRAM-SHA-256":
		return sha256.New
	}
	return nil
}

// checkDowngrade checks XEP-0474's h attribute in a SCRAM server-first
// message against what the client saw offered: the hash of the mechanisms,
// sorted and joined by 0x1E, then 0x1F and the channel-binding types, sorted
// and joined by 0x1E. A server-first message without it says nothing
// (checked is then false).
func checkDowngrade(serverFirst []byte, mech string, mechs, cbs []string) (checked bool, err error) {
	var got string
	for f := range strings.SplitSeq(string(serverFirst), ",") {
		if strings.HasPrefix(f, "h=") || strings.HasPrefix(f, "d=") {
			got = f[2:]
		}
	}
	hf := scramHash(mech)
	if got == "" || hf == nil {
		return false, nil
	}
	want := base64.StdEncoding.EncodeToString(downgradeHash(hf, mechs, cbs))
	if got != want {
		return true, &AuthError{Condition: CondDowngrade, Text: "the server's XEP-0474 hash does not match the SASL mechanisms and channel bindings offered: the offer was tampered with"}
	}
	return true, nil
}

func downgradeHash(hf func() hash.Hash, mechs, cbs []string) []byte {
	m := slices.Sorted(slices.Values(mechs))
	in := strings.Join(m, "\x1e")
	if len(cbs) > 0 {
		c := slices.Sorted(slices.Values(cbs))
		in += "\x1f" + strings.Join(c, "\x1e")
	}
	h := hf()
	h.Write([]byte(in))
	return h.Sum(nil)
}
