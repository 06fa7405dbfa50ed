package scenario

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/suspend"
)

// Limits checked by Parse.
const (
	// MaxLineBytes bounds one line of a script.
	MaxLineBytes = 4096
	// MaxCount bounds the N of send and peer send.
	MaxCount = 1000
	// MaxWait bounds every duration of a script but /bg's.
	MaxWait = 10 * time.Minute
	// MaxEvery bounds the interval of send … every D.
	MaxEvery = time.Minute
)

// ParseError is an error in a script, at a line.
type ParseError struct {
	// File is the name given to Parse.
	File string
	// Line is the 1-based line number.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error returns "FILE:LINE: MSG".
func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// States a script can wait for: alice's app states and her connection states.
var (
	appStates  = []string{"active", "background", "suspended"}
	connStates = []string{"connecting", "online", "resuming", "reconnecting", "offline"}
)

// Parse reads a script. name is used in errors (a file name, as the user
// gave it). Every error is a *ParseError naming the line; durations, counts,
// states, policies and fault names are checked here, so that a script that
// parses does not fail on its syntax halfway through a run.
func Parse(name string, r io.Reader) (*Script, error) {
	s := &Script{Name: name}
	br := bufio.NewReader(r)
	seenAction := false
	frozen := false
	for line := 1; ; line++ {
		text, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &ParseError{File: name, Line: line, Msg: err.Error()}
		}
		if text == "" && err != nil {
			break
		}
		text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
		if len(text) > MaxLineBytes {
			return nil, &ParseError{File: name, Line: line, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		st, msg := parseLine(text)
		if msg != "" {
			return nil, &ParseError{File: name, Line: line, Msg: msg}
		}
		if st.kind != 0 {
			st.Line = line
			if st.kind == kPolicy {
				if seenAction {
					return nil, &ParseError{File: name, Line: line, Msg: "policy must come before every other statement: it configures alice's app before the run starts"}
				}
				seenAction = true // one policy statement at most
				s.Policy = st.policy
			} else {
				seenAction = true
			}
			switch {
			case st.kind == kFreeze && frozen:
				return nil, &ParseError{File: name, Line: line, Msg: "freeze: alice's app is frozen already (thaw it first)"}
			case st.kind == kThaw && !frozen:
				return nil, &ParseError{File: name, Line: line, Msg: "thaw: alice's app is not frozen (freeze comes first)"}
			case st.kind == kFreeze || st.kind == kThaw:
				frozen = st.kind == kFreeze
			}
			s.Statements = append(s.Statements, st)
		}
		if err != nil {
			break
		}
	}
	return s, nil
}

// parseLine parses one line; a zero Statement with an empty message is a
// blank or comment line.
func parseLine(text string) (Statement, string) {
	if !utf8.ValidString(text) {
		return Statement{}, "invalid UTF-8"
	}
	for _, r := range text {
		if r != '\t' && unicode.IsControl(r) {
			return Statement{}, fmt.Sprintf("control character %U", r)
		}
	}
	fields := strings.Fields(text)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return Statement{}, ""
	}
	head := fields[0]
	// Message text is literal; elsewhere a # beginning a word starts a
	// comment.
	if head != "say" && head != "/msg" {
		for i, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:i]
				break
			}
		}
	}
	args := fields[1:]
	switch {
	case head == "say":
		body := strings.TrimSpace(strings.TrimSpace(text)[len("say"):])
		if body == "" {
			return Statement{}, "say TEXT: the text is missing"
		}
		return Statement{kind: kChat, cmd: driver.Command{Op: driver.OpSend, Text: body}}, ""
	case strings.HasPrefix(head, "/"):
		return parseChat(text, head, fields)
	case head == "policy":
		if len(args) != 1 {
			return Statement{}, "policy hold|detach|close"
		}
		p, err := suspend.ParsePolicy(args[0])
		if err != nil || args[0] != p.String() {
			return Statement{}, fmt.Sprintf("unknown policy %q%s: want hold, detach or close", args[0], suggest(args[0], []string{"hold", "detach", "close"}))
		}
		return Statement{kind: kPolicy, policy: p}, ""
	case head == "send":
		return parseSend(kSend, "send", args)
	case head == "peer":
		if len(args) == 0 || args[0] != "send" {
			got := ""
			if len(args) > 0 {
				got = fmt.Sprintf(" (got %q%s)", args[0], suggest(args[0], []string{"send"}))
			}
			return Statement{}, "peer send N [every DURATION]" + got
		}
		return parseSend(kPeerSend, "peer send", args[1:])
	case head == "wait":
		return parseWait(args)
	case head == "server":
		actions := []string{serverRestart, serverKill, serverDown, serverUp}
		if len(args) != 1 || !contains(actions, args[0]) {
			got := ""
			if len(args) > 0 {
				got = fmt.Sprintf(" (got %q%s)", strings.Join(args, " "), suggest(args[0], actions))
			}
			return Statement{}, "server restart|kill|down|up" + got
		}
		return Statement{kind: kServer, action: args[0]}, ""
	case head == "freeze" || head == "thaw":
		if len(args) != 0 {
			return Statement{}, head + " takes nothing more"
		}
		if head == "freeze" {
			return Statement{kind: kFreeze}, ""
		}
		return Statement{kind: kThaw}, ""
	case head == "network":
		faults := []string{networkRST, networkBlackhole}
		if len(args) != 1 || !contains(faults, args[0]) {
			got := ""
			if len(args) > 0 {
				got = fmt.Sprintf(" (got %q%s)", strings.Join(args, " "), suggest(args[0], faults))
			}
			return Statement{}, "network rst|blackhole" + got
		}
		return Statement{kind: kNetwork, action: args[0]}, ""
	case head == "expect":
		return parseExpect(args)
	}
	return Statement{}, fmt.Sprintf("unknown statement %q%s", head, suggest(head, statementWords))
}

// statementWords are the first words of statements, for suggestions.
var statementWords = []string{"say", "send", "peer", "wait", "server", "expect", "policy", "freeze", "thaw", "network",
	"/bg", "/suspend", "/resume", "/tear", "/msg", "/to", "/status"}

func parseChat(text, head string, fields []string) (Statement, string) {
	switch head {
	case "/help", "/quit":
		return Statement{}, fmt.Sprintf("%s is not available in a script (the run ends at the end of the file)", head)
	}
	line := text
	if head != "/msg" {
		line = strings.Join(fields, " ") // without the comment
	}
	c, err := driver.ParseCommand(strings.TrimSpace(line))
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), driver.ErrUsage.Error()+": ")
		if strings.HasPrefix(msg, "unknown command") {
			return Statement{}, fmt.Sprintf("unknown chat command %q%s", head, suggest(head, statementWords))
		}
		return Statement{}, "usage: " + msg
	}
	if c.Op == driver.OpSend && c.To == "" {
		return Statement{}, fmt.Sprintf("unknown statement %q: to send text to the current peer, write say TEXT", head)
	}
	if c.Op == driver.OpSend && strings.TrimSpace(c.Text) == "" {
		return Statement{}, "usage: /msg JID TEXT"
	}
	return Statement{kind: kChat, cmd: c}, ""
}

func parseSend(k kind, what string, args []string) (Statement, string) {
	usage := what + " N [every DURATION]"
	if len(args) != 1 && len(args) != 3 {
		return Statement{}, usage
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > MaxCount {
		return Statement{}, fmt.Sprintf("%s: count %q: want a number from 1 to %d", usage, args[0], MaxCount)
	}
	st := Statement{kind: k, n: n}
	if len(args) == 3 {
		if args[1] != "every" {
			return Statement{}, fmt.Sprintf("%s (got %q%s)", usage, args[1], suggest(args[1], []string{"every"}))
		}
		d, msg := parseDuration(args[2], MaxEvery)
		if msg != "" {
			return Statement{}, usage + ": " + msg
		}
		st.every = d
	}
	return st, ""
}

func parseWait(args []string) (Statement, string) {
	const usage = "wait DURATION | wait online [within D] | wait state STATE [within D] | wait hibernation"
	if len(args) == 0 {
		return Statement{}, usage
	}
	switch args[0] {
	case "hibernation":
		if len(args) != 1 {
			return Statement{}, "wait hibernation takes nothing more"
		}
		return Statement{kind: kWaitHibernation}, ""
	case "online":
		d, msg := parseWithin(args[1:])
		if msg != "" {
			return Statement{}, "wait online [within D]: " + msg
		}
		return Statement{kind: kWaitState, state: "online", dur: d}, ""
	case "state":
		all := append(append([]string(nil), appStates...), connStates...)
		if len(args) < 2 || !contains(all, args[1]) {
			got := ""
			if len(args) >= 2 {
				got = fmt.Sprintf(" (got %q%s)", args[1], suggest(args[1], all))
			}
			return Statement{}, "wait state STATE: want one of " + strings.Join(all, ", ") + got
		}
		d, msg := parseWithin(args[2:])
		if msg != "" {
			return Statement{}, "wait state STATE [within D]: " + msg
		}
		return Statement{kind: kWaitState, state: args[1], dur: d}, ""
	}
	if len(args) != 1 {
		return Statement{}, usage
	}
	d, msg := parseDuration(args[0], MaxWait)
	if msg != "" {
		if s := suggest(args[0], []string{"online", "state", "hibernation"}); s != "" {
			return Statement{}, fmt.Sprintf("wait: unknown %q%s", args[0], s)
		}
		return Statement{}, "wait: " + msg
	}
	return Statement{kind: kWait, dur: d}, ""
}

var expectWords = []string{"received", "peer", "resumed", "fresh", "kept", "delivered", "no"}

func parseExpect(args []string) (Statement, string) {
	const usage = "expect received N | peer received N | resumed | fresh | kept | delivered | no duplicates"
	if len(args) == 0 {
		return Statement{}, usage
	}
	word := args[0]
	switch word {
	case "received", "peer":
		k, rest, what := kExpectReceived, args[1:], "expect received N [within D]"
		if word == "peer" {
			k, what = kExpectPeerReceived, "expect peer received N [within D]"
			if len(rest) == 0 || rest[0] != "received" {
				return Statement{}, what
			}
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return Statement{}, what
		}
		n, err := strconv.Atoi(rest[0])
		if err != nil || n < 0 || n > MaxCount*100 {
			return Statement{}, fmt.Sprintf("%s: count %q: want a number from 0 to %d", what, rest[0], MaxCount*100)
		}
		d, msg := parseWithin(rest[1:])
		if msg != "" {
			return Statement{}, what + ": " + msg
		}
		return Statement{kind: k, n: n, dur: d}, ""
	case "resumed", "fresh", "kept", "delivered":
		d, msg := parseWithin(args[1:])
		if msg != "" {
			return Statement{}, "expect " + word + " [within D]: " + msg
		}
		k := map[string]kind{"resumed": kExpectResumed, "fresh": kExpectFresh, "kept": kExpectKept, "delivered": kExpectDelivered}[word]
		return Statement{kind: k, dur: d}, ""
	case "no":
		if len(args) != 2 || args[1] != "duplicates" {
			return Statement{}, "expect no duplicates"
		}
		return Statement{kind: kExpectNoDuplicates}, ""
	}
	return Statement{}, fmt.Sprintf("expect: unknown %q%s: want %s", word, suggest(word, expectWords), usage)
}

// parseWithin parses an optional "within D".
func parseWithin(args []string) (time.Duration, string) {
	switch {
	case len(args) == 0:
		return 0, ""
	case len(args) == 2 && args[0] == "within":
		return parseDuration(args[1], MaxWait)
	case args[0] != "within":
		return 0, fmt.Sprintf("unexpected %q%s", args[0], suggest(args[0], []string{"within"}))
	}
	return 0, "within DURATION"
}

func parseDuration(s string, max time.Duration) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Sprintf("bad duration %q (e.g. 500ms, 2s, 1m)", s)
	}
	if d <= 0 || d > max {
		return 0, fmt.Sprintf("duration %s out of range: want more than 0 and at most %v", s, max)
	}
	return d, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns ` (did you mean "X"?)` for the closest word within a small
// edit distance, or "".
func suggest(s string, words []string) string {
	best, bestD := "", 3
	ls := strings.ToLower(s)
	for _, w := range words {
		d := editDistance(ls, w)
		if d < bestD && d < len(w) {
			best, bestD = w, d
		}
	}
	if best == "" || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in runes. It
// gives up (returning a large number) for long words.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
