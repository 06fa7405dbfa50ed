package scenario

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/golden"
)

// goldenStart is the fixed start of the golden timelines.
var goldenStart = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// TestGoldenNarration pins the timeline text the runner writes for the
// drivers' events, and the summary it draws from them.
func TestGoldenNarration(t *testing.T) {
	entries, res := narrate(t)
	var b bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&b, "%s | %s | %s | ledger=%t\n", e.Name, e.State, e, e.ledger)
	}
	b.WriteString("---\n")
	_ = res.WriteSummary(&b)
	golden.Check(t, "narration.txt", b.Bytes())
}
