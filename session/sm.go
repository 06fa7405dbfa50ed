package session

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
)

// smElement is a parsed XEP-0198 nonza.
type smElement struct {
	// Name is the element's local name: r, a, enabled, resumed or failed.
	Name string
	// H is the h attribute, when HSet.
	H    uint32
	HSet bool
	// ID and Resume are from <enabled/>.
	ID     string
	Resume bool
	// Max is <enabled max='…'/> in seconds, when MaxSet.
	Max    uint32
	MaxSet bool
	// Location is <enabled location='…'/>.
	Location string
	// PrevID is <resumed previd='…'/>.
	PrevID string
	// Condition is the error condition inside <failed/>.
	Condition string
}

var errBadSM = errors.New("session: malformed stream management element")

// parseSM decodes the XEP-0198 element that start opens, reading the rest of
// it from d. It checks every attribute XEP-0198 defines for that element and
// rejects what does not fit; it never panics on any input.
func parseSM(d *xml.Decoder, start xml.StartElement) (smElement, error) {
	if start.Name.Space != nsSM {
		return smElement{Name: start.Name.Local}, fmt.Errorf("%w: namespace %q", errBadSM, start.Name.Space)
	}
	var children []node
	if err := decodeChildren(d, start, &children); err != nil {
		return smElement{Name: start.Name.Local}, err
	}
	return smFromNode(start.Name, start.Attr, children)
}

// smFromNode is parseSM for an element already decoded (inside SASL2's
// <success/>).
func smFromNode(name xml.Name, attrs []xml.Attr, children []node) (smElement, error) {
	el := smElement{Name: name.Local}
	if name.Space != nsSM {
		return el, fmt.Errorf("%w: namespace %q", errBadSM, name.Space)
	}
	for _, a := range attrs {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "h":
			h, err := strconv.ParseUint(a.Value, 10, 32)
			if err != nil {
				return el, fmt.Errorf("%w: h=%q is not an unsignedInt", errBadSM, a.Value)
			}
			el.H, el.HSet = uint32(h), true
		case "id":
			el.ID = a.Value
		case "resume":
			el.Resume = a.Value == "true" || a.Value == "1"
		case "max":
			m, err := strconv.ParseUint(a.Value, 10, 32)
			if err != nil {
				return el, fmt.Errorf("%w: max=%q is not an unsignedInt", errBadSM, a.Value)
			}
			el.Max, el.MaxSet = uint32(m), true
		case "location":
			el.Location = a.Value
		case "previd":
			el.PrevID = a.Value
		}
	}
	switch el.Name {
	case "a", "resumed":
		if !el.HSet {
			return el, fmt.Errorf("%w: <%s/> without h", errBadSM, el.Name)
		}
	case "failed":
		el.Condition = failedCondition(children)
	case "enabled", "r":
	default:
		return el, fmt.Errorf("%w: unexpected <%s/>", errBadSM, el.Name)
	}
	return el, nil
}

// failedCondition is the stanza error condition among the children of
// <failed/>: directly, or wrapped in <error/> as Prosody writes it on the
// SASL2 path.
func failedCondition(children []node) string {
	for _, c := range children {
		if c.XMLName.Space == nsStanzas && c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	for _, c := range children {
		if c.XMLName.Local == "error" {
			for _, cc := range c.Nodes {
				if cc.XMLName.Space == nsStanzas && cc.XMLName.Local != "text" {
					return cc.XMLName.Local
				}
			}
		}
	}
	return "undefined-condition"
}

// decodeChildren reads the rest of the element start opened into nodes.
func decodeChildren(d *xml.Decoder, start xml.StartElement, children *[]node) error {
	var n node
	if err := d.DecodeElement(&n, &start); err != nil {
		return fmt.Errorf("%w: %v", errBadSM, err)
	}
	*children = n.Nodes
	return nil
}

// Nonzas as written on the wire.
const (
	smRequest = `<r xmlns="urn:xmpp:sm:3"/>`
	csiActive = `<active xmlns="urn:xmpp:csi:0"/>`
	csiIdle   = `<inactive xmlns="urn:xmpp:csi:0"/>`
	enableSM  = `<enable xmlns="urn:xmpp:sm:3" resume="true"/>`
)

func smAnswer(h uint32) []byte {
	b := append([]byte(`<a xmlns="urn:xmpp:sm:3" h="`), strconv.FormatUint(uint64(h), 10)...)
	return append(b, `"/>`...)
}

func smResume(id string, h uint32) []byte {
	b := append([]byte(`<resume xmlns="urn:xmpp:sm:3" h="`), strconv.FormatUint(uint64(h), 10)...)
	b = append(b, '"')
	b = appendAttr(b, "previd", id)
	return append(b, "/>"...)
}
