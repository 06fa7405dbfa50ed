package scenario_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xmppbg/xmppbg/internal/scenario"
)

// TestBundledInSync checks that the embedded copy (scenarios/) holds the same
// files as testdata/scenarios at the module root, byte for byte.
func TestBundledInSync(t *testing.T) {
	canonical, err := filepath.Glob("../../testdata/scenarios/*.scn")
	if err != nil || len(canonical) == 0 {
		t.Fatalf("no testdata/scenarios/*.scn: %v", err)
	}
	var names []string
	for _, path := range canonical {
		name := filepath.Base(path)
		names = append(names, name)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := scenario.BundledSource(name)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("the embedded %s differs from testdata/scenarios/%s: run go generate ./internal/scenario", name, name)
		}
	}
	slices.Sort(names)
	if got := scenario.BundledNames(); !slices.Equal(got, names) {
		t.Errorf("embedded %v, testdata has %v: run go generate ./internal/scenario", got, names)
	}
	for _, name := range names {
		if strings.ContainsAny(name, " \t") {
			t.Errorf("scenario file name %q has spaces", name)
		}
	}
}
