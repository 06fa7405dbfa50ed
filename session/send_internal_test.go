package session

import (
	"strings"
	"testing"
	"time"
)

// CheckSize adds delayOverhead to the message as sent instead of encoding
// it a second time: the sum must be the resent form's length exactly, for
// any sender, stamp and escaping.
func TestDelayOverheadIsExact(t *testing.T) {
	for _, from := range []string{"a@b", "alice@example.org", `o'brien&"co"@example.org`} {
		for _, stamp := range []time.Time{time.Unix(0, 0), time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.FixedZone("x", 3600))} {
			m := Message{ID: NewID(), To: "bob@example.org", Body: strings.Repeat("'<&x", 100)}
			m.OriginID = m.ID
			sent := len(encodeMessage(&m, time.Time{}, ""))
			resent := len(encodeMessage(&m, stamp, from))
			if got := sent + delayOverhead(from); got != resent {
				t.Errorf("from %q, stamp %v: %d + %d = %d, want %d", from, stamp, sent, delayOverhead(from), got, resent)
			}
		}
	}
}
