package bench_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// sections of the report, in the order they run.
var sections = []struct {
	name string
	run  func(t *testing.T)
}{
	{"memory", reportMemory}, // first: the heap is smallest then
	{"recovery", reportRecovery},
	{"detection", reportDetection},
	{"throughput", reportThroughput},
	{"storm", reportStorm},
	{"unannounced", reportUnannounced},
}

// TestReport measures and writes the Markdown tables of BENCHMARKS.md. It
// runs only when XMPPBG_BENCH is set to "all" or a comma-separated list of
// sections (memory, recovery, detection, throughput, storm, unannounced); the tables go to
// the file XMPPBG_BENCH_OUT (default: the test log only).
func TestReport(t *testing.T) {
	want := os.Getenv("XMPPBG_BENCH")
	if want == "" {
		t.Skip("set XMPPBG_BENCH=all (or a list: memory,recovery,detection,throughput,storm,unannounced) to measure; see BENCHMARKS.md")
	}
	list := strings.Split(want, ",")
	reportf("Measured %s: %s\n\n", time.Now().UTC().Format(time.RFC3339), machine())
	ran := 0
	for _, s := range sections {
		if want != "all" && !slices.Contains(list, s.name) {
			continue
		}
		ran++
		t.Run(s.name, s.run)
	}
	if ran == 0 {
		t.Fatalf("XMPPBG_BENCH=%q names no section", want)
	}
	report.mu.Lock()
	out := report.b.String()
	report.mu.Unlock()
	t.Logf("\n%s", out)
	if path := os.Getenv("XMPPBG_BENCH_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Error(err)
		}
	}
}
