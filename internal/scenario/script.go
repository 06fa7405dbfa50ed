package scenario

import (
	"strconv"
	"strings"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/suspend"
)

// Script is a parsed scenario.
type Script struct {
	// Name is the name given to Parse (a file name).
	Name string
	// Policy is alice's background policy (the policy statement; default
	// detach).
	Policy suspend.Policy
	// Statements are the statements in file order, comments and blank lines
	// left out. A policy statement is among them.
	Statements []Statement
}

// String formats the script in canonical form, one statement per line:
// parsing it again gives the same script.
func (s *Script) String() string {
	var b strings.Builder
	for _, st := range s.Statements {
		b.WriteString(st.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// needs reports whether a statement of one of the kinds is in the script.
func (s *Script) needs(kinds ...kind) bool {
	for _, st := range s.Statements {
		for _, k := range kinds {
			if st.kind == k {
				return true
			}
		}
	}
	return false
}

// needsServer reports whether a server statement with one of the actions is
// in the script.
func (s *Script) needsServer(actions ...string) bool {
	for _, st := range s.Statements {
		if st.kind == kServer && contains(actions, st.action) {
			return true
		}
	}
	return false
}

// kind is a statement's kind.
type kind int

const (
	kPolicy kind = iota + 1
	kChat
	kSend
	kPeerSend
	kWait
	kWaitState
	kWaitHibernation
	kServer
	kExpectReceived
	kExpectPeerReceived
	kExpectResumed
	kExpectFresh
	kExpectKept
	kExpectDelivered
	kExpectNoDuplicates
	kFreeze
	kThaw
	kNetwork
)

// Server actions.
const (
	serverRestart = "restart"
	serverKill    = "kill"
	serverDown    = "down"
	serverUp      = "up"
)

// Network faults (network rst|blackhole): what happens to alice's live
// connection outside her app.
const (
	networkRST       = "rst"
	networkBlackhole = "blackhole"
)

// Statement is one line of a script.
type Statement struct {
	// Line is the statement's line in the file.
	Line int

	kind   kind
	cmd    driver.Command // kChat
	n      int            // send counts, expected counts
	every  time.Duration  // send … every
	dur    time.Duration  // wait D; within D (0: the default)
	state  string         // wait state
	action string         // server action, network fault
	policy suspend.Policy // kPolicy
}

// IsExpectation reports whether the statement is an expectation (expect …).
func (st Statement) IsExpectation() bool {
	return st.kind >= kExpectReceived && st.kind <= kExpectNoDuplicates
}

// String formats the statement in canonical form.
func (st Statement) String() string {
	within := ""
	if st.dur > 0 {
		within = " within " + st.dur.String()
	}
	every := ""
	if st.every > 0 {
		every = " every " + st.every.String()
	}
	switch st.kind {
	case kPolicy:
		return "policy " + st.policy.String()
	case kChat:
		return chatString(st.cmd)
	case kSend:
		return "send " + strconv.Itoa(st.n) + every
	case kPeerSend:
		return "peer send " + strconv.Itoa(st.n) + every
	case kWait:
		return "wait " + st.dur.String()
	case kWaitState:
		if st.state == "online" {
			return "wait online" + within
		}
		return "wait state " + st.state + within
	case kWaitHibernation:
		return "wait hibernation"
	case kServer:
		return "server " + st.action
	case kFreeze:
		return "freeze"
	case kThaw:
		return "thaw"
	case kNetwork:
		return "network " + st.action
	case kExpectReceived:
		return "expect received " + strconv.Itoa(st.n) + within
	case kExpectPeerReceived:
		return "expect peer received " + strconv.Itoa(st.n) + within
	case kExpectResumed:
		return "expect resumed" + within
	case kExpectFresh:
		return "expect fresh" + within
	case kExpectKept:
		return "expect kept" + within
	case kExpectDelivered:
		return "expect delivered" + within
	case kExpectNoDuplicates:
		return "expect no duplicates"
	}
	return "?"
}

func chatString(c driver.Command) string {
	switch c.Op {
	case driver.OpSend:
		if c.To == "" {
			return "say " + c.Text
		}
		return "/msg " + c.To + " " + c.Text
	case driver.OpTo:
		return "/to " + c.To
	case driver.OpBg:
		if c.Window > 0 {
			return "/bg " + c.Window.String()
		}
		return "/bg"
	case driver.OpTear:
		return "/tear " + c.Fault.String()
	}
	return "/" + c.Op.String()
}
