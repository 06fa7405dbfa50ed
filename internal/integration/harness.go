package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

// Password is the password of the accounts Each registers.
const Password = "correct horse battery staple"

// Server is what the suites need of a running server. Every harness's
// server provides it.
type Server interface {
	// Name is the harness's name: the server and its version.
	Name() string
	// Caps says how this server differs from the others.
	Caps() Caps

	Addr() string   // c2s (STARTTLS) host:port
	Domain() string // XMPP domain
	CAFile() string // PEM certificate clients should trust
	// Hibernation is how long a lost stream stays resumable (Prosody's
	// smacks_hibernation_time, ejabberd's resume_timeout).
	Hibernation() time.Duration
	// DirectTLSAddr is the XEP-0368 direct TLS host:port, "" when the
	// server has none (see Options.DirectTLSPort).
	DirectTLSAddr() string

	// Register creates (or overwrites) user@Domain.
	Register(ctx context.Context, user, password string) error
	// Restart stops the server with sig and starts it again on the same
	// port(s) with the same data.
	Restart(ctx context.Context, sig os.Signal) error
	// Stop stops the server; Each does it at the end of the test.
	Stop() error
	// OfflineCount is how many messages wait in user's offline storage,
	// for a failed test's log; errors.ErrUnsupported where the harness
	// cannot tell.
	OfflineCount(ctx context.Context, user string) (int, error)
}

// Caps are the real differences between the servers that the suites check:
// a test asks for a capability, never for a server's name. See
// internal/ejabberd's doc for how they were observed.
type Caps struct {
	// ReusesParser: the server parses a resumed connection with the old
	// connection's XML parser (Prosody 0.12.3 and 13.0.1), so a stanza cut
	// by a tear can fail the resumed stream with not-well-formed and a
	// second, fresh login is needed. Without it a tear costs exactly one
	// resumption.
	ReusesParser bool
	// FailedHAfterSIGTERM: after a restart by SIGTERM, resumption gets
	// <failed h='N'/> (Prosody saves the counter at shutdown). Without it
	// (ejabberd keeps stream state in memory only) <failed/> has no h.
	// After a SIGKILL no server knows h.
	FailedHAfterSIGTERM bool
	// ShutdownError is the stream error condition a client gets when the
	// server stops by SIGTERM (ejabberd: system-shutdown); "" when the
	// server closes connections without one (Prosody 0.12).
	ShutdownError string
	// OfflineRace: a message to a bare JID sent after a fresh session's
	// bind but before the server handled its initial presence can be
	// stranded in offline storage until the next login (ejabberd routes in
	// the sender's process). Tests wait until the server has acknowledged
	// the presence before writing to such a session.
	OfflineRace bool
	// ResumeHandoverRace: a message routed to the user while the server
	// hands a resumed stream over to its new connection can miss both and
	// land in offline storage, delivered only at the next fresh login, not
	// in the resumed stream (ejabberd 23.01: the old session is gone from
	// the routing table before the new one is in it; seen about once in 30
	// runs of the session suite's RST test under load, for a message sent
	// to the full JID during the resumption).
	ResumeHandoverRace bool
	// ExpiredToOffline: when a stream's resumption time passes, its
	// unacknowledged messages go to offline storage and come after the
	// next initial presence (Prosody; ejabberd with resend_on_timeout:
	// if_offline, as the harness configures it) instead of bouncing.
	ExpiredToOffline bool
	// DirectTLS: the harness can open a XEP-0368 direct TLS port
	// (Options.DirectTLSPort).
	DirectTLS bool
	// NoSM: the harness can start a server without XEP-0198
	// (Options.DisableSM).
	NoSM bool
	// RelaysDeepXML: the server relays a stanza nested 10,001 deep to its
	// recipient as it came (Prosody 0.12). ejabberd 23.01 does not: it ends
	// the sender's stream and the recipient's when one is sent.
	RelaysDeepXML bool
}

// Options configures the server Each starts. The zero value is the server's
// defaults with the accounts alice and bob.
type Options struct {
	// Accounts maps localparts to passwords; default alice and bob with
	// Password.
	Accounts map[string]string
	// Hibernation is how long a lost stream stays resumable; default the
	// server's own (whole seconds, at least 1 s).
	Hibernation time.Duration
	// MAM turns the message archive (XEP-0313) on.
	MAM bool
	// DisableOffline turns offline storage off.
	DisableOffline bool
	// DisableSM starts a server without XEP-0198 (needs Caps.NoSM).
	DisableSM bool
	// DirectTLSPort opens a XEP-0368 direct TLS port (needs
	// Caps.DirectTLS).
	DirectTLSPort bool
	// Restarts says the test restarts the server, which an attached server
	// cannot do.
	Restarts bool
}

// Harness starts one kind of server.
type Harness struct {
	// Name is the server and its version, the subtest's name.
	Name string
	// Caps are its servers' capabilities.
	Caps Caps
	// start starts a server for the test (stopped at its end), or skips
	// (fails under CI) when the server is not installed.
	start func(t *testing.T, o Options) Server
}

// Harnesses returns the servers the suites run against, in order.
func Harnesses() []Harness {
	return []Harness{prosodyHarness, ejabberdHarness}
}

// Start starts a server for the test with o (alice and bob when o has no
// Accounts) and stops it at the end of the test.
func (h Harness) Start(t *testing.T, o Options) Server {
	t.Helper()
	if why := h.unsupported(o); why != "" {
		t.Fatalf("%s: %s", h.Name, why)
	}
	if o.Accounts == nil {
		o.Accounts = map[string]string{"alice": Password, "bob": Password}
	}
	return h.start(t, o)
}

// unsupported says why the harness cannot honour o, or "".
func (h Harness) unsupported(o Options) string {
	var why []string
	if o.DirectTLSPort && !h.Caps.DirectTLS {
		why = append(why, "no direct TLS port")
	}
	if o.DisableSM && !h.Caps.NoSM {
		why = append(why, "cannot turn stream management off")
	}
	return strings.Join(why, ", ")
}

// Each runs f in a subtest per harness (see Harnesses), each on a server of
// its own started with o. A harness that cannot honour o is left out, and
// Each logs why; when none can, the test fails.
func Each(t *testing.T, o Options, f func(t *testing.T, srv Server)) {
	t.Helper()
	ran := 0
	for _, h := range Harnesses() {
		if why := h.unsupported(o); why != "" {
			t.Logf("not run on %s: %s", h.Name, why)
			continue
		}
		ran++
		t.Run(h.Name, func(t *testing.T) {
			f(t, h.Start(t, o))
		})
	}
	if ran == 0 {
		t.Fatal("no server can run this test")
	}
}

var prosodyHarness = Harness{
	Name: "prosody-0.12",
	Caps: Caps{
		ReusesParser:        true,
		FailedHAfterSIGTERM: true,
		ExpiredToOffline:    true,
		DirectTLS:           true,
		NoSM:                true,
		RelaysDeepXML:       true,
	},
	start: startProsodyServer,
}

func startProsodyServer(t *testing.T, o Options) Server {
	t.Helper()
	if Attached() {
		// An attached server keeps its own settings: skip what needs
		// others (the user chose it; this is not a missing binary).
		var why []string
		if o.Restarts {
			why = append(why, "restarts the server")
		}
		if o.MAM || o.DisableOffline || o.DisableSM || o.DirectTLSPort {
			why = append(why, "needs server settings of its own")
		}
		if len(why) > 0 {
			t.Skipf("%s is set and the test %s", EnvServer, strings.Join(why, ", "))
		}
	}
	s := StartProsody(t, prosody.Options{
		Accounts:       o.Accounts,
		Hibernation:    o.Hibernation,
		MAM:            o.MAM,
		DisableOffline: o.DisableOffline,
		DisableSM:      o.DisableSM,
		DirectTLSPort:  o.DirectTLSPort,
	})
	if s.External() && o.Hibernation > 0 && s.Hibernation() > o.Hibernation+3*time.Second {
		t.Skipf("the attached server's hibernation time (%v) is too long for this test", s.Hibernation())
	}
	return prosodyServer{s}
}

type prosodyServer struct{ *prosody.Server }

func (prosodyServer) Name() string { return prosodyHarness.Name }
func (prosodyServer) Caps() Caps   { return prosodyHarness.Caps }

func (prosodyServer) OfflineCount(context.Context, string) (int, error) {
	return 0, errors.ErrUnsupported
}

var ejabberdHarness = Harness{
	Name: "ejabberd-23.01",
	Caps: Caps{
		ShutdownError:      "system-shutdown",
		OfflineRace:        true,
		ResumeHandoverRace: true,
		ExpiredToOffline:   true,
		DirectTLS:          true,
		NoSM:               true,
	},
	start: func(t *testing.T, o Options) Server {
		t.Helper()
		return ejabberdServer{StartEjabberd(t, ejabberd.Options{
			Accounts:       o.Accounts,
			Hibernation:    o.Hibernation,
			MAM:            o.MAM,
			DisableOffline: o.DisableOffline,
			DisableSM:      o.DisableSM,
			DirectTLSPort:  o.DirectTLSPort,
		})}
	},
}

type ejabberdServer struct{ *ejabberd.Server }

func (ejabberdServer) Name() string { return ejabberdHarness.Name }
func (ejabberdServer) Caps() Caps   { return ejabberdHarness.Caps }

func (s ejabberdServer) OfflineCount(ctx context.Context, user string) (int, error) {
	raw, err := s.Call(ctx, "get_offline_count", map[string]string{"user": user, "server": s.Domain()})
	if err != nil {
		return 0, err
	}
	var v struct{ Value int }
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("get_offline_count: %q: %w", raw, err)
	}
	return v.Value, nil
}
