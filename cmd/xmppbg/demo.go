package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/internal/scenario"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// Defaults of the demo command.
const (
	// defaultDemoHibernation is the throwaway server's XEP-0198 hibernation
	// time: short, so that a scenario can outlast it in a few seconds.
	defaultDemoHibernation = 5 * time.Second
	// demoStartTimeout bounds starting the throwaway server.
	demoStartTimeout = 30 * time.Second
)

// errScenarioFailed is wrapped by the error of a demo whose scenario ran
// but did not pass. Its exit code is 1 (other error): exitCode in root.go
// has no code of its own for it.
var errScenarioFailed = errors.New("scenario failed")

// installProsodyHelp says how to get the prosody binary.
const installProsodyHelp = "the demo needs the Prosody XMPP server, which is not installed (no prosody in $PATH): install it with `sudo apt-get install prosody`, or run scripts/setup.sh"

// demoOptions are the demo command's options.
type demoOptions struct {
	*globalOptions

	// Scenario is a scenario file, or the name of a bundled scenario; ""
	// plays the built-in story.
	Scenario string
	// SVG is a file to write the timeline picture to; "" for none.
	SVG string
	// Hibernation is the throwaway server's hibernation time.
	Hibernation time.Duration
	// Logs passes the clients' logs on at --log-level; without an explicit
	// --log-level they are left out, as the timeline has what matters.
	Logs bool
	// NoDetect turns off alice's suspension detector.
	NoDetect bool
}

// newCmdDemo returns the demo command. runF does the work (runDemo when
// nil); tests pass their own to check the parsed options.
func newCmdDemo(g *globalOptions, runF func(context.Context, *demoOptions) error) *cobra.Command {
	opts := &demoOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "demo [SCENARIO]",
		Short: "Play a scripted suspend-and-repair scenario against a throwaway local server",
		Long: `Start a throwaway local Prosody server with two accounts, alice and bob,
play a scenario with them, print its timeline and a summary, and stop the
server.

alice is the account under test: an app that goes to the background, is
suspended, has its socket torn, and comes back; bob is her peer, never
suspended. Without SCENARIO, the built-in story plays: chat both ways, a
background window, a suspension while bob keeps writing, the socket torn,
the stream resumed; then a suspension longer than the server's hibernation
time, a fresh session, bob's messages from offline storage; every message
delivered exactly once.

SCENARIO is a scenario file (see the language in internal/scenario's
documentation, and testdata/scenarios for examples) or the name of a bundled
one: ` + strings.Join(bundledNames(), ", ") + `.

The timeline goes to stdout as it happens, then the summary; with --json,
one JSON object per timeline entry (its "event" is the entry's kind: state,
message, sent, statement, expect, ...; "at" is seconds since the start),
then {"event":"summary",...}. --svg FILE also draws the timeline as an SVG
picture.

The demo always runs its own server, on a free port of 127.0.0.1 (as
internal/prosody does for the tests): --jid, --addr, --ca-file,
--password-file and --insecure-skip-verify do not apply. It needs the prosody
binary: sudo apt-get install prosody, or scripts/setup.sh.

Exit status 0 when every expectation was met, 7 when one failed, 2 for a
scenario file that does not parse (the error names the line), 1 for another
error.`,
		Example: `  xmppbg demo
  xmppbg demo --svg story.svg
  xmppbg demo fault-blackhole
  xmppbg demo --json testdata/scenarios/server-restart.scn`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			for _, name := range []string{"jid", "addr", "direct-tls", "no-sasl2", "ca-file", "password-file", "insecure-skip-verify"} {
				if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
					return usageErrorf("--%s does not apply to demo: it runs its own server and accounts", name)
				}
			}
			if len(args) == 1 {
				opts.Scenario = args[0]
			}
			opts.Logs = cmd.Flags().Changed("log-level")
			if opts.Hibernation < time.Second || opts.Hibernation%time.Second != 0 {
				return usageErrorf("--hibernation %v: want a whole number of seconds, at least 1s", opts.Hibernation)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDemo(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.SVG, "svg", "", "also draw the timeline as an SVG picture in `FILE`")
	cmd.Flags().DurationVar(&opts.Hibernation, "hibernation", defaultDemoHibernation, "the server keeps a broken stream resumable for `DURATION` (whole seconds)")
	cmd.Flags().BoolVar(&opts.NoDetect, noDetectFlag, false, noDetectUsage)
	return cmd
}

func bundledNames() []string {
	var names []string
	for _, n := range scenario.BundledNames() {
		names = append(names, strings.TrimSuffix(n, ".scn"))
	}
	return names
}

// loadScenario returns the script to play: the story, a file, or a bundled
// scenario by name.
func (opts *demoOptions) loadScenario() (*scenario.Script, error) {
	if opts.Scenario == "" {
		s, _ := scenario.Bundled(scenario.StoryName)
		return s, nil
	}
	f, err := os.Open(opts.Scenario)
	if errors.Is(err, fs.ErrNotExist) {
		if s, ok := scenario.Bundled(opts.Scenario); ok {
			return s, nil
		}
		return nil, usageErrorf("no scenario file %s, and no bundled scenario of that name (bundled: %s)", opts.Scenario, strings.Join(bundledNames(), ", "))
	}
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	defer f.Close()
	s, err := scenario.Parse(opts.Scenario, f)
	if err != nil {
		return nil, &usageError{err}
	}
	return s, nil
}

// runDemo starts a throwaway server, plays the scenario and reports.
func runDemo(ctx context.Context, opts *demoOptions) error {
	o := opts.Output()
	s, err := opts.loadScenario()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("prosody"); err != nil {
		return &cliError{msg: installProsodyHelp, err: err}
	}

	accounts := map[string]string{"alice": demoPassword(), "bob": demoPassword()}
	sctx, cancel := context.WithTimeout(ctx, demoStartTimeout)
	srv, err := prosody.Start(sctx, prosody.Options{Accounts: accounts, Hibernation: opts.Hibernation})
	cancel()
	if err != nil {
		return fmt.Errorf("starting the local server: %w", err)
	}
	pid, stopped := srv.PID(), false
	stopServer := func() {
		if !stopped {
			stopped = true
			_ = srv.Stop()
			o.Status("server", "stopped the local server", F("action", "stopped"), F("pid", pid))
		}
	}
	defer stopServer()
	o.Status("server", fmt.Sprintf("started a local Prosody on %s (pid %d, hibernation %v); playing %s", srv.Addr(), srv.PID(), srv.Hibernation(), s.Name),
		F("action", "started"), F("addr", srv.Addr()), F("pid", pid), F("domain", srv.Domain()), F("hibernation_s", srv.Hibernation().Seconds()), F("scenario", s.Name))

	env := scenario.Env{
		Addr:        srv.Addr(),
		Domain:      srv.Domain(),
		CAFile:      srv.CAFile(),
		Alice:       scenario.Account{User: "alice", Password: accounts["alice"]},
		Bob:         scenario.Account{User: "bob", Password: accounts["bob"]},
		Hibernation: srv.Hibernation(),
		OnEntry:     func(e scenario.Entry) { reportEntry(o, e) },
	}
	if !opts.NoDetect {
		env.Detect = &suspend.DetectorOptions{}
	}
	if opts.Logs {
		env.Logger = opts.logger()
	}
	env.Server = srv
	// A scenario that freezes alice's app runs her as this binary's chat
	// command, in a process that can be stopped (SIGSTOP).
	if self, err := os.Executable(); err == nil {
		env.AppBinary = self
	}
	res, runErr := scenario.Run(ctx, env, s)
	var svgErr error
	if res != nil && opts.SVG != "" {
		if svgErr = writeSVG(opts.SVG, res); svgErr == nil {
			o.Status("svg", "wrote the timeline picture to "+opts.SVG, F("file", opts.SVG))
		}
	}
	stopServer()
	if res != nil {
		reportSummary(o, res) // last: in JSON mode, the final line
	}
	switch {
	case svgErr != nil:
		return svgErr
	case errors.Is(runErr, context.Canceled) && ctx.Err() != nil:
		return &cliError{msg: "interrupted", err: runErr}
	case runErr != nil:
		return &cliError{msg: strings.TrimPrefix(runErr.Error(), "scenario: "), err: runErr}
	case !res.Passed():
		return &cliError{msg: fmt.Sprintf("scenario %s failed: %d of %d expectations failed, %d failures in all (see the summary)",
			s.Name, res.Summary.Failed, res.Summary.Expectations, len(res.Failures)), err: errScenarioFailed}
	}
	return nil
}

func demoPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reportEntry writes one timeline entry as it happens: a line of text, or a
// JSON event named after the entry.
func reportEntry(o *output, e scenario.Entry) {
	if !o.JSON() {
		o.Event(e.Name, sanitizeLines(e.String(), "\n"))
		return
	}
	fields := []Field{F("who", e.Who), F("at", roundSeconds(e.At))}
	if e.Line > 0 {
		fields = append(fields, F("line", e.Line))
	}
	if e.State != "" {
		fields = append(fields, F("state", e.State))
	}
	if e.Name == "expect" {
		fields = append(fields, F("ok", e.OK))
	}
	fields = append(fields, eventFields(e.Event)...)
	fields = append(fields, F("text", e.Text))
	o.Event(e.Name, "", fields...)
}

// eventFields returns the fields of a driver event in a timeline entry, in
// the order of the demo's JSON: id, from, to, body, delayed, fresh, queued,
// by_probe, took_ms, ids.
func eventFields(ev driver.Event) []Field {
	var (
		fields []Field
		took   time.Duration
		ids    []string
	)
	message := func(m session.Message) {
		fields = append(fields, F("id", m.ID))
		if m.From != "" {
			fields = append(fields, F("from", m.From))
		}
		if m.To != "" {
			fields = append(fields, F("to", m.To))
		}
		fields = append(fields, F("body", m.Body))
		if m.Delayed() {
			fields = append(fields, F("delayed", true))
		}
	}
	switch ev := ev.(type) {
	case driver.Received:
		message(ev.Message)
	case driver.Duplicate:
		message(ev.Message)
	case driver.Sent:
		message(ev.Message)
		if ev.Queued {
			fields = append(fields, F("queued", true))
		}
	case driver.StateChanged:
		if ev.Fresh {
			fields = append(fields, F("fresh", true))
		}
		took = ev.SinceResume
	case driver.Dead:
		fields = append(fields, F("by_probe", ev.ByProbe))
		took = ev.Took
	case driver.Retrying:
		took = ev.Delay
	case driver.Woke:
		fields = append(fields, wokeFields(ev)...)
	case driver.Resumed:
		took = ev.Login
	case driver.Acked:
		ids = ev.IDs
	case driver.Resent:
		ids = ev.IDs
	case driver.Undelivered:
		ids = []string{ev.Stanza.ID}
	}
	if took > 0 {
		fields = append(fields, F("took_ms", took.Milliseconds()))
	}
	if len(ids) > 0 {
		fields = append(fields, F("ids", ids))
	}
	return fields
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond).Milliseconds()) / 1000
}

// reportSummary writes the summary: as text after the timeline, or as a
// "summary" event.
func reportSummary(o *output, res *scenario.Result) {
	if !o.JSON() {
		var b bytes.Buffer
		_ = res.WriteSummary(&b)
		o.Event("summary", "\n"+strings.TrimSuffix(b.String(), "\n"))
		return
	}
	s := res.Summary
	flow := func(f scenario.Flow) map[string]any {
		return map[string]any{"sent": f.Sent, "delivered": f.Delivered, "lost": f.Lost, "duplicated": f.Duplicated, "unexpected": f.Unexpected}
	}
	repairs := []map[string]any{}
	for _, r := range s.Repairs {
		repairs = append(repairs, map[string]any{
			"cause": r.Cause, "start": roundSeconds(r.Start), "outcome": r.Outcome, "done": r.Done,
			"dead_ms": r.Dead.Milliseconds(), "by_probe": r.ByProbe, "login_ms": r.Login.Milliseconds(), "took_ms": r.Took.Milliseconds(),
		})
	}
	failures := []map[string]any{}
	for _, f := range res.Failures {
		failures = append(failures, map[string]any{"line": f.Line, "statement": f.Statement, "reason": f.Reason})
	}
	o.Event("summary", "",
		F("scenario", res.Name), F("passed", res.Passed()),
		F("expectations", s.Expectations), F("failed", s.Failed),
		F("duration_s", roundSeconds(res.Duration)),
		F("alice_to_bob", flow(s.AliceToBob)), F("bob_to_alice", flow(s.BobToAlice)),
		F("lost", s.AliceToBob.Lost+s.BobToAlice.Lost), F("duplicated", s.AliceToBob.Duplicated+s.BobToAlice.Duplicated),
		F("duplicates_dropped", s.DuplicatesDropped),
		F("resumed", s.Resumed), F("fresh", s.Fresh), F("kept", s.Kept),
		F("repairs", repairs), F("failures", failures))
}

func writeSVG(path string, res *scenario.Result) error {
	var b bytes.Buffer
	if err := res.WriteSVG(&b); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the timeline picture: %w", err)
	}
	return nil
}
