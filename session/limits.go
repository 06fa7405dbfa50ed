package session

import (
	"context"
	"encoding/xml"
	"strconv"
	"strings"

	"mellium.im/xmpp"
)

// XEP-0478 (Stream Limits Advertisement): a server may say in its stream
// features the largest stanza it takes from the client,
//
//	<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>262144</max-bytes></limits>
//
// (Prosody 13 does, c2s_stanza_size_limit). A message above it would make
// the server close the connection, so it lowers the bound on what
// SendMessage takes (Config.MaxSendBytes). It is kept in the State
// (SendLimit): a stream resumed inline with SASL2 gets no features.

const nsLimits = "urn:xmpp:stream-limits:0"

// minServerLimit is the smallest max-bytes taken from a server: XEP-0478
// lets none below 10,000 for clients, Prosody's own floor. A smaller value
// is ignored, not obeyed: it would refuse every message.
const minServerLimit = 10000

// parseMaxBytes reads the max-bytes of a limits element's text, 0 when it
// is missing or not a valid limit.
func parseMaxBytes(text string) int {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < minServerLimit {
		return 0
	}
	return n
}

// limitsFeature reads the limits in the features mellium negotiates (the
// classic login). It is informational: nothing to negotiate.
func limitsFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name: xml.Name{Space: nsLimits, Local: "limits"},
		Parse: func(_ context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			var n node
			if err := d.DecodeElement(&n, start); err != nil {
				return false, 0, err
			}
			return false, limitsMaxBytes(&n), nil
		},
	}
}

// limitsMaxBytes returns the max-bytes of a <limits/> element, 0 when it
// has none that is valid.
func limitsMaxBytes(limits *node) int {
	n := 0
	for _, c := range limits.Nodes {
		if c.XMLName == (xml.Name{Space: nsLimits, Local: "max-bytes"}) {
			n = parseMaxBytes(c.Text)
		}
	}
	return n
}

// featureLimit returns the max-bytes of the last features mellium read
// (limitsFeature), 0 when they had none.
func featureLimit(xs *xmpp.Session) int {
	v, _ := xs.Feature(nsLimits)
	n, _ := v.(int)
	return n
}

// SendBound returns the bound on one outgoing message, in bytes as
// written, for a session configured with max (Config.MaxSendBytes: 0 for
// DefaultMaxSendBytes, negative for none) on the stream st describes: the
// server's own limit (SendLimit) where it is lower. Negative means no
// bound. A nil st is an empty one.
func (st *State) SendBound(max int) int {
	if max == 0 {
		max = DefaultMaxSendBytes
	}
	if st != nil && st.SendLimit > 0 && (max < 0 || st.SendLimit < max) {
		return st.SendLimit
	}
	return max
}
