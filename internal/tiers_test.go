package internal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The module's packages by tier (see doc.go). A new package must be added
// to one of these lists: TestTiers fails for a package it does not know.
const module = "github.com/xmppbg/xmppbg"

var (
	// library is the public API: it imports no internal package and no
	// command.
	library = []string{"session", "reconnect", "suspend"}
	// commands are what ships as binaries.
	commands = []string{"cmd/xmppbg"}
	// shipped are the internal packages the binary is built from.
	shipped = []string{"internal", "internal/driver", "internal/scenario", "internal/prosody", "internal/serverproc", "internal/faultproxy", "internal/proc"}
	// testOnly are imported only by _test.go files and by each other.
	testOnly = []string{"internal/integration", "internal/toxic", "internal/netlab", "internal/leakcheck", "internal/echotest", "internal/golden", "internal/ejabberd", "internal/bench", "internal/soak"}
	// tools are developer commands that do not ship (go run them).
	tools = []string{"internal/prosody/cmd/gencert"}
)

// forbiddenInBinary are import path prefixes of test-only dependencies:
// toxiproxy and what it pulls in, the DNS server of session's SRV tests,
// and package testing.
var forbiddenInBinary = []string{
	"github.com/Shopify/toxiproxy",
	"github.com/miekg/dns",
	"github.com/prometheus/",
	"github.com/rs/zerolog",
	"github.com/gorilla/",
	"google.golang.org/protobuf",
	"testing",
}

// rel returns path relative to the module ("" for the root), and whether it
// is in the module.
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func TestTiers(t *testing.T) {
	// Each package with its non-test dependencies (transitive, standard
	// library included), from one go list over the module.
	deps := map[string][]string{}
	for _, line := range goList(t, "-f", "{{.ImportPath}}:{{join .Deps \",\"}}", "./...") {
		pkg, ds, _ := strings.Cut(line, ":")
		r, ok := rel(pkg)
		if !ok {
			t.Fatalf("go list ./... listed %s outside the module", pkg)
		}
		if ds == "" {
			deps[r] = nil
		} else {
			deps[r] = strings.Split(ds, ",")
		}
	}

	known := slices.Concat(library, commands, shipped, testOnly, tools)
	for pkg := range deps {
		if !slices.Contains(known, pkg) {
			t.Errorf("package %s/%s is in no tier: add it to a list in internal/tiers_test.go (does it ship?)", module, pkg)
		}
	}
	for _, pkg := range known {
		if _, ok := deps[pkg]; !ok {
			t.Errorf("tier lists name %s, which go list ./... does not know", pkg)
		}
	}

	for pkg, ds := range deps {
		for _, d := range ds {
			r, inModule := rel(d)
			switch {
			case slices.Contains(library, pkg) && inModule && !slices.Contains(library, r):
				t.Errorf("library package %s imports %s: the library must not depend on internal packages or commands", pkg, d)
			case !slices.Contains(testOnly, pkg) && inModule && slices.Contains(testOnly, r):
				t.Errorf("%s imports the test-only package %s", pkg, d)
			}
		}
	}
	for _, d := range deps["session"] {
		if _, ok := rel(d); ok {
			t.Errorf("session imports %s: data flows cmd → suspend/reconnect → session", d)
		}
	}

	// What the binary links, asked of go list directly.
	for _, cmd := range commands {
		for _, d := range goList(t, "-deps", "./"+cmd) {
			for _, f := range forbiddenInBinary {
				if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("%s links %s, a test-only dependency", cmd, d)
				}
			}
		}
	}
}

// goList runs go list in the module root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to check the tiers: %v", err)
	}
	cmd := exec.Command(gocmd, append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
