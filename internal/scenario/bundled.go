package scenario

import (
	"bytes"
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// The bundled scenarios. testdata/scenarios at the module root holds the
// canonical files; scenarios/ here is a byte-identical copy, because go:embed
// cannot reach outside the package directory. TestBundledInSync checks the
// copy; go generate refreshes it.
//
//go:generate sh -c "rm -f scenarios/*.scn && cp ../../testdata/scenarios/*.scn scenarios/"
//go:embed scenarios/*.scn
var bundled embed.FS

// StoryName is the name of the built-in demo scenario.
const StoryName = "story.scn"

// Bundled returns the bundled scenario called name ("story.scn", or
// "story"), parsed. ok is false when there is none.
func Bundled(name string) (s *Script, ok bool) {
	if !strings.HasSuffix(name, ".scn") {
		name += ".scn"
	}
	if strings.ContainsAny(name, `/\`) {
		return nil, false
	}
	b, err := fs.ReadFile(bundled, path.Join("scenarios", name))
	if err != nil {
		return nil, false
	}
	s, err = Parse(name, bytes.NewReader(b))
	if err != nil {
		panic("scenario: bundled " + err.Error()) // TestBundled parses them all
	}
	return s, true
}

// BundledNames returns the names of the bundled scenarios, sorted.
func BundledNames() []string {
	entries, _ := fs.ReadDir(bundled, "scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// BundledSource returns the text of the bundled scenario called name.
func BundledSource(name string) ([]byte, bool) {
	if !strings.HasSuffix(name, ".scn") {
		name += ".scn"
	}
	b, err := fs.ReadFile(bundled, path.Join("scenarios", name))
	return b, err == nil
}
