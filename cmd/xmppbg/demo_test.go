package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/internal/integration"
)

// needProsody skips the test when the prosody binary is missing, except
// under CI=true where it fails it (integration tests never skip under CI).
func needProsody(t *testing.T) {
	t.Helper()
	if os.Getenv(integration.EnvServer) != "" {
		t.Skip("the demo tests need a local prosody: " + integration.EnvServer + " is set")
	}
	if _, err := exec.LookPath("prosody"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prosody not found: install it with apt-get install -y prosody; integration tests never skip under CI")
		}
		t.Skip("prosody not found: install it with apt-get install -y prosody")
	}
}

func TestDemoStoryJSON(t *testing.T) {
	t.Parallel()
	needProsody(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	svg := filepath.Join(t.TempDir(), "story.svg")
	r := runXmppbg(ctx, nil, "demo", "--json", "--svg", svg)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s\nstdout %s", r.code, r.stderr, r.stdout)
	}
	events := jsonLines(t, r.stdout)
	sums := eventsNamed(events, "summary")
	if len(sums) != 1 || events[len(events)-1]["event"] != "summary" {
		t.Fatalf("want one summary, last: %d summaries in %s", len(sums), r.stdout)
	}
	sum := sums[0]
	if sum["passed"] != true || sum["lost"] != 0.0 || sum["duplicated"] != 0.0 || sum["scenario"] != "story.scn" {
		t.Errorf("summary %v", sum)
	}
	if sum["resumed"] != 1.0 || sum["fresh"] != 1.0 || sum["failed"] != 0.0 {
		t.Errorf("the story should resume once and open one fresh session: %v", sum)
	}
	for _, name := range []string{"server", "statement", "state", "sent", "message", "expect"} {
		if len(eventsNamed(events, name)) == 0 {
			t.Errorf("no %q event", name)
		}
	}
	for _, ev := range eventsNamed(events, "expect") {
		if ev["ok"] != true || ev["line"] == nil {
			t.Errorf("expectation %v", ev)
		}
	}
	for _, ev := range eventsNamed(events, "message") {
		if ev["who"] == nil || ev["at"] == nil || ev["body"] == nil {
			t.Errorf("message event %v", ev)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b)
}

func TestDemoBundledFile(t *testing.T) {
	t.Parallel()
	needProsody(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	file := filepath.Join("..", "..", "testdata", "scenarios", "fault-rst.scn")
	r := runXmppbg(ctx, nil, "demo", file)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s\nstdout %s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{
		"script  :14  /resume",
		"stream resumed (XEP-0198)",
		"Summary of " + file + ": PASSED",
		"alice -> bob     2 sent,   2 delivered, 0 lost, 0 duplicated",
		"bob   -> alice   5 sent,   5 delivered, 0 lost, 0 duplicated",
		"failures: none",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "started a local Prosody on 127.0.0.1:") || !strings.Contains(r.stderr, "stopped the local server") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// A scenario whose expectation fails exits 1 and says which line failed.
func TestDemoFailure(t *testing.T) {
	t.Parallel()
	needProsody(t)
	file := filepath.Join(t.TempDir(), "fails.scn")
	if err := os.WriteFile(file, []byte("peer send 1\n# bob sent one, not two\nexpect received 2 within 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r := runXmppbg(ctx, nil, "demo", file)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr %s\nstdout %s", r.code, exitFailed, r.stderr, r.stdout)
	}
	if !strings.Contains(r.stdout, "FAILED expect received 2 within 1s: alice got only 1 of 2 messages") ||
		!strings.Contains(r.stdout, file+":3 expect received 2 within 1s") {
		t.Errorf("stdout %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "xmppbg: scenario "+file+" failed: 1 of 1 expectations failed") {
		t.Errorf("stderr %s", r.stderr)
	}
}

func TestDemoParseError(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bad.scn")
	if err := os.WriteFile(file, []byte("# a comment\nsend 1\nwiat 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"demo", file}, {"demo", "--json", file}} {
		r := runXmppbg(t.Context(), nil, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, r.code, exitUsage, r.stderr)
		}
		want := file + `:3: unknown statement "wiat" (did you mean "wait"?)`
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%v: stderr %q lacks %q", args, r.stderr, want)
		}
	}
}

func TestDemoUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "no-such-scenario"}, "no scenario file no-such-scenario, and no bundled scenario of that name (bundled: "},
		{[]string{"demo", "--addr", "127.0.0.1:5222"}, "--addr does not apply to demo"},
		{[]string{"demo", "--jid", "a@b"}, "--jid does not apply to demo"},
		{[]string{"demo", "--direct-tls"}, "--direct-tls does not apply to demo"},
		{[]string{"demo", "--hibernation", "1500ms"}, "--hibernation 1.5s: want a whole number of seconds"},
		{[]string{"demo", "a", "b"}, "accepts at most 1 arg"},
	} {
		r := runXmppbg(t.Context(), nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
}

func TestDemoFlags(t *testing.T) {
	t.Parallel()
	var got *demoOptions
	capture := func(g *globalOptions) *cobra.Command {
		return newCmdDemo(g, func(_ context.Context, o *demoOptions) error { got = o; return nil })
	}
	if err := parse(t, nil, capture, "demo", "--svg", "x.svg", "--hibernation", "3s", "--json", "story"); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Scenario != "story" || got.SVG != "x.svg" || got.Hibernation != 3*time.Second || !got.JSON || got.Logs {
		t.Errorf("options %+v", got)
	}
	got = nil
	if err := parse(t, nil, capture, "demo", "--log-level", "debug"); err != nil {
		t.Fatal(err)
	}
	if got.Scenario != "" || got.SVG != "" || got.Hibernation != defaultDemoHibernation || !got.Logs {
		t.Errorf("defaults %+v", got)
	}
}

// The prosody binary missing: a clear error that says how to install it.
// Not parallel: it empties PATH.
func TestDemoNoProsody(t *testing.T) {
	if os.Getenv(integration.EnvServer) != "" {
		t.Skip(integration.EnvServer + " is set")
	}
	t.Setenv("PATH", t.TempDir())
	r := runXmppbg(t.Context(), nil, "demo")
	if r.code == exitOK || !strings.Contains(r.stderr, "sudo apt-get install prosody") || !strings.Contains(r.stderr, "scripts/setup.sh") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// checkSVG fails the test unless b is a well-formed SVG document.
func checkSVG(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
}
