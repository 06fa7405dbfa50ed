package scenario

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// update rewrites the golden files instead of comparing with them:
// go test ./internal/scenario -run Golden -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenStart is the fixed start of the golden timelines.
var goldenStart = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

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
	checkGolden(t, "narration.txt", b.Bytes())
}
