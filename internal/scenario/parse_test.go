package scenario_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/xmppbg/xmppbg/internal/scenario"
	"github.com/xmppbg/xmppbg/suspend"
)

func TestParseGood(t *testing.T) {
	src := `# a comment
   # an indented comment

policy hold
say hi bob,   how are you? # not a comment
/msg bob hello # literal too
/msg carol@example.org x
/to alice
/to bob   # a comment
/bg
/bg 2s
/suspend
/resume
/tear RST
/tear blackhole
/tear reclaim
/status
send 3
send 2 every 250ms
peer send 5
peer send 1 every 1s
wait 500ms
wait 1m30s
wait online
wait online within 5s
wait state suspended
wait state reconnecting within 3s
wait hibernation
server restart
server kill
server down
server up
freeze
network rst
network blackhole
thaw
expect received 0
expect received 7 within 3s
expect peer received 3
expect peer received 3 within 1s
expect resumed
expect resumed within 2s
expect fresh within 5s
expect kept
expect delivered
expect delivered within 10s
expect no duplicates
`
	want := `policy hold
say hi bob,   how are you? # not a comment
/msg bob hello # literal too
/msg carol@example.org x
/to alice
/to bob
/bg
/bg 2s
/suspend
/resume
/tear rst
/tear blackhole
/tear reclaim
/status
send 3
send 2 every 250ms
peer send 5
peer send 1 every 1s
wait 500ms
wait 1m30s
wait online
wait online within 5s
wait state suspended
wait state reconnecting within 3s
wait hibernation
server restart
server kill
server down
server up
freeze
network rst
network blackhole
thaw
expect received 0
expect received 7 within 3s
expect peer received 3
expect peer received 3 within 1s
expect resumed
expect resumed within 2s
expect fresh within 5s
expect kept
expect delivered
expect delivered within 10s
expect no duplicates
`
	s, err := scenario.Parse("good.scn", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if s.Name != "good.scn" || s.Policy != suspend.PolicyHold {
		t.Errorf("Name %q, Policy %v", s.Name, s.Policy)
	}
	// Line numbers count comments and blank lines.
	if s.Statements[0].Line != 4 || s.Statements[1].Line != 5 || s.Statements[len(s.Statements)-1].Line != 47 {
		t.Errorf("lines %d, %d, %d", s.Statements[0].Line, s.Statements[1].Line, s.Statements[len(s.Statements)-1].Line)
	}
	var expectations int
	for _, st := range s.Statements {
		if st.IsExpectation() {
			expectations++
		}
	}
	if expectations != 11 {
		t.Errorf("%d expectations, want 11", expectations)
	}
	// The canonical form parses to itself.
	again, err := scenario.Parse("again", strings.NewReader(s.String()))
	if err != nil || again.String() != want {
		t.Errorf("reparse: %v\n%s", err, again)
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := scenario.Parse("x", strings.NewReader("send 1\r\nwait 1s"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Policy != suspend.PolicyDetach || len(s.Statements) != 2 || s.Statements[1].Line != 2 {
		t.Errorf("%+v", s)
	}
	s, err = scenario.Parse("empty", strings.NewReader(""))
	if err != nil || len(s.Statements) != 0 {
		t.Errorf("empty script: %v, %v", s, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
		msg  string // a substring of the message
	}{
		{"wiat 2s", 1, `unknown statement "wiat" (did you mean "wait"?)`},
		{"thaw", 1, "alice's app is not frozen (freeze comes first)"},
		{"freeze\nsend 1\nfreeze", 3, "frozen already (thaw it first)"},
		{"freeze\nthaw\nthaw", 3, "not frozen"},
		{"freeze now", 1, "freeze takes nothing more"},
		{"network", 1, "network rst|blackhole"},
		{"network reset", 1, `got "reset"`},
		{"network blakhole", 1, `(did you mean "blackhole"?)`},
		{"frezee", 1, `(did you mean "freeze"?)`},
		{"# c\n\nsend 1\nexpcet delivered", 4, `unknown statement "expcet" (did you mean "expect"?)`},
		{"hello bob", 1, `unknown statement "hello"`},
		{"Wait 2s", 1, `(did you mean "wait"?)`},
		{"wait", 1, "wait DURATION"},
		{"wait 2x", 1, `bad duration "2x"`},
		{"wait -1s", 1, "out of range"},
		{"wait 0s", 1, "out of range"},
		{"wait 11m", 1, "out of range"},
		{"wait onlien", 1, `(did you mean "online"?)`},
		{"wait online 5s", 1, `unexpected "5s"`},
		{"wait online within", 1, "within DURATION"},
		{"wait online withn 5s", 1, `(did you mean "within"?)`},
		{"wait state sleeping", 1, `got "sleeping"`},
		{"wait state suspend", 1, `(did you mean "suspended"?)`},
		{"wait hibernation 2s", 1, "takes nothing more"},
		{"send", 1, "send N [every DURATION]"},
		{"send 0", 1, "want a number from 1 to 1000"},
		{"send 1001", 1, "want a number from 1 to 1000"},
		{"send x", 1, `count "x"`},
		{"send 2 evry 1s", 1, `(did you mean "every"?)`},
		{"send 2 every", 1, "send N [every DURATION]"},
		{"send 2 every 2m", 1, "out of range"},
		{"peer 2", 1, "peer send N"},
		{"peer snd 2", 1, `(did you mean "send"?)`},
		{"server reboot", 1, "server restart|kill|down|up"},
		{"server restrat", 1, `(did you mean "restart"?)`},
		{"server", 1, "server restart|kill|down|up"},
		{"expect", 1, "expect received N"},
		{"expect recieved 3", 1, `(did you mean "received"?)`},
		{"expect received", 1, "expect received N"},
		{"expect received -1", 1, "want a number from 0"},
		{"expect peer 3", 1, "expect peer received N"},
		{"expect resumed in 2s", 1, `unexpected "in"`},
		{"expect no dupes", 1, "expect no duplicates"},
		{"policy", 1, "policy hold|detach|close"},
		{"policy keep", 1, `unknown policy "keep"`},
		{"policy hodl", 1, `(did you mean "hold"?)`},
		{"send 1\npolicy hold", 2, "policy must come before every other statement"},
		{"policy hold\npolicy close", 2, "policy must come before every other statement"},
		{"/bg soon", 1, "usage: /bg [DURATION]"},
		{"/bg -1s", 1, "usage: /bg [DURATION]"},
		{"/tear fire", 1, "usage:"},
		{"/tear", 1, "/tear rst|blackhole|reclaim"},
		{"/resume now", 1, "/resume takes no argument"},
		{"/msg bob", 1, "/msg JID TEXT"},
		{"/to", 1, "/to JID"},
		{"/resmue", 1, `unknown chat command "/resmue" (did you mean "/resume"?)`},
		{"/help", 1, "not available in a script"},
		{"/quit", 1, "not available in a script"},
		{"//hello", 1, "write say TEXT"},
		{"say", 1, "say TEXT"},
		{"say    ", 1, "say TEXT"},
		{"send 1\n\x00", 2, "control character"},
		{"say \xff", 1, "invalid UTF-8"},
		{strings.Repeat("#", scenario.MaxLineBytes+1), 1, "line longer than"},
	} {
		_, err := scenario.Parse("scenarios/x.scn", strings.NewReader(tc.src))
		var pe *scenario.ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want a *ParseError", tc.src, err)
			continue
		}
		if pe.File != "scenarios/x.scn" || pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("%q: got %s:%d: %s\nwant line %d with %q", tc.src, pe.File, pe.Line, pe.Msg, tc.line, tc.msg)
		}
		if prefix := "scenarios/x.scn:" + strconv.Itoa(tc.line) + ": "; !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%q: Error() = %q, want prefix %q", tc.src, err, prefix)
		}
	}
}

func TestParseErrorText(t *testing.T) {
	_, err := scenario.Parse("scenarios/x.scn", strings.NewReader(strings.Repeat("\n", 11)+"wiat 2s\n"))
	if got, want := err.Error(), `scenarios/x.scn:12: unknown statement "wiat" (did you mean "wait"?)`; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestBundledParse(t *testing.T) {
	names := scenario.BundledNames()
	for _, want := range []string{"story.scn", "fault-rst.scn", "fault-blackhole.scn", "fault-reclaim.scn",
		"policy-hold.scn", "policy-detach.scn", "policy-close.scn", "server-restart.scn"} {
		s, ok := scenario.Bundled(want)
		if !ok {
			t.Errorf("no bundled %s (have %v)", want, names)
			continue
		}
		if len(s.Statements) == 0 || s.Name != want {
			t.Errorf("%s: %d statements, name %q", want, len(s.Statements), s.Name)
		}
	}
	if _, ok := scenario.Bundled("story"); !ok {
		t.Error("Bundled(\"story\") not found")
	}
	for _, bad := range []string{"nope", "../doc.go", "scenarios/story.scn", ""} {
		if _, ok := scenario.Bundled(bad); ok {
			t.Errorf("Bundled(%q) found something", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range scenario.BundledNames() {
		b, _ := scenario.BundledSource(name)
		f.Add(string(b))
	}
	for _, seed := range []string{
		"wait 1s", "say  x ", "/msg bob a  b", "/tear RST", "send 2 every 1ms", "expect received 3 within 1s",
		"policy hold\n/bg\n/resume", "wait state online within 1h", "/to #x", "say #", "/msg # #", "//x", "/",
		"wait 1.5s", "wait 1000000000ns", "send +3", "expect no duplicates # c", "\t/bg\t2s\t",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := scenario.Parse("fuzz.scn", strings.NewReader(src))
		if err != nil {
			var pe *scenario.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.File != "fuzz.scn" {
				t.Fatalf("error %v is not a *ParseError with a line", err)
			}
			return
		}
		text := s.String()
		again, err := scenario.Parse("fuzz.scn", strings.NewReader(text))
		if err != nil {
			t.Fatalf("the canonical form does not parse: %v\n%q\nfrom %q", err, text, src)
		}
		if again.String() != text || again.Policy != s.Policy || len(again.Statements) != len(s.Statements) {
			t.Fatalf("round trip changed the script:\n%q\n%q\nfrom %q", text, again.String(), src)
		}
	})
}
