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
	// server closes connections without one (Prosody 0.12). Best effort:
	// when ejabberd's shutdown outruns a connection's process (about one
	// restart in eight of 23.01, more under load), that connection just
	// closes.
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
	// recipient as it came (Prosody 0.12 and 13). ejabberd does not: 23.01
	// ends the sender's stream and the recipient's, and when the recipient
	// is online it can bring the whole server down (connections refused
	// from then on; seen by the soak, 2026-11-30): tests send it to an
	// ejabberd only to check that the client survives the end.
	RelaysDeepXML bool

	// The modern login (see ../shared/MODERN-SERVERS.md for the exchange).

	// SASL2: the server offers XEP-0388 SASL2 with XEP-0386 Bind2 (inline
	// <enable/> of XEP-0198), XEP-0484 FAST (HT-SHA-256-EXPR and -NONE),
	// XEP-0198 <resume/> inside <authenticate>, and XEP-0474 downgrade
	// protection (Prosody 13 with prosody-modules, ejabberd 24.12; both
	// only when the stream header carries from='user@domain'). Its
	// harness always opens a direct TLS port (DirectTLSAddr), where the
	// modern login takes its fewest round trips.
	SASL2 bool
	// SCRAM lists the SCRAM mechanisms the server offers over TLS 1.3,
	// -PLUS ones included. SHA-1 on the Prosodies (internal_hashed stores
	// SHA-1 keys; 0.12 has no -PLUS on TLS 1.3) and ejabberd 23.01;
	// SHA-256 only on ejabberd 24.12, which the harness configures with
	// auth_scram_hash: sha256 so that the suites see both hashes on real
	// servers. TestCapsMatchFeatures checks it.
	SCRAM []string
	// ChannelBindings are the XEP-0440 channel-binding types the server
	// advertises: tls-exporter on Prosody 13, and tls-server-end-point
	// too on ejabberd 24.12; none on Prosody 0.12 and ejabberd 23.01
	// (23.01 offers SCRAM-SHA-1-PLUS without saying which binding).
	// TestCapsMatchFeatures checks it.
	ChannelBindings []string
	// FeaturesAfterInlineResume: after a successful <resume/> inside SASL2
	// the server still sends <stream:features> (Prosody 13; XEP-0198 says
	// it must not), which a client must ignore.
	FeaturesAfterInlineResume bool
	// TokenOnEveryFASTLogin: the server issues a new FAST token on every
	// FAST authentication with <resume/> (Prosody 13): a client must always
	// keep the newest.
	TokenOnEveryFASTLogin bool
	// TLSResumption: the server resumes a TLS session from its session
	// ticket (none of the four: they send tickets but always complete a
	// full handshake; a client's session cache gains nothing there yet).
	TLSResumption bool
	// WrappedResumeFailure: on the SASL2 path the server wraps the
	// resumption failure's condition in <error type='cancel'> inside
	// <failed> (Prosody 13).
	WrappedResumeFailure bool
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
	start func(t testing.TB, o Options, h Harness) Server
}

// Harnesses returns the servers the suites run against, in order: all
// of them, or those EnvServers selects.
func Harnesses() []Harness {
	hs, _ := selectHarnesses(os.Getenv(EnvServers))
	return hs
}

// AllHarnesses returns every harness, whatever EnvServers says.
func AllHarnesses() []Harness {
	return []Harness{prosodyHarness, ejabberdHarness, prosody13Harness, ejabberd2412Harness}
}

// selectHarnesses returns the harnesses sel (EnvServers's value) names, in
// the order of AllHarnesses: all of them when sel is empty. A name is a
// harness's (prosody-13) or the server's part of it (prosody: both
// Prosodies); an unknown name is an error.
func selectHarnesses(sel string) ([]Harness, error) {
	all := AllHarnesses()
	if strings.TrimSpace(sel) == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, name := range strings.FieldsFunc(sel, func(r rune) bool { return r == ',' || r == ' ' }) {
		known := false
		for _, h := range all {
			if server, _, _ := strings.Cut(h.Name, "-"); name == h.Name || name == server {
				want[h.Name] = true
				known = true
			}
		}
		if !known {
			var names []string
			for _, h := range all {
				names = append(names, h.Name)
			}
			return nil, fmt.Errorf("%s: unknown server %q: want a comma-separated list of %s, prosody or ejabberd",
				EnvServers, name, strings.Join(names, ", "))
		}
	}
	var hs []Harness
	for _, h := range all {
		if want[h.Name] {
			hs = append(hs, h)
		}
	}
	return hs, nil
}

// Start starts a server for the test with o (alice and bob when o has no
// Accounts) and stops it at the end of the test.
func (h Harness) Start(t testing.TB, o Options) Server {
	t.Helper()
	if why := h.unsupported(o); why != "" {
		t.Fatalf("%s: %s", h.Name, why)
	}
	if o.Accounts == nil {
		o.Accounts = map[string]string{"alice": Password, "bob": Password}
	}
	return h.start(t, o, h)
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
	hs, err := selectHarnesses(os.Getenv(EnvServers))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, h := range hs {
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
		if len(hs) < len(AllHarnesses()) {
			t.Skipf("none of the servers %s=%q selects can run this test", EnvServers, os.Getenv(EnvServers))
		}
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
		SCRAM:               []string{"SCRAM-SHA-1"},
	},
	start: startProsodyServer,
}

// prosody13Harness is Prosody 13.0.1 with prosody-modules' sasl2,
// sasl2_bind2, sasl2_fast, sasl2_sm and sasl_ssdp, from bookworm-backports
// (scripts/setup.sh).
var prosody13Harness = Harness{
	Name: "prosody-13",
	Caps: Caps{
		ReusesParser:        true,
		FailedHAfterSIGTERM: true,
		ExpiredToOffline:    true,
		DirectTLS:           true,
		NoSM:                true,
		RelaysDeepXML:       true,
		SASL2:               true,
		SCRAM:               []string{"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"},
		ChannelBindings:     []string{"tls-exporter"},

		FeaturesAfterInlineResume: true,
		TokenOnEveryFASTLogin:     true,
		WrappedResumeFailure:      true,
	},
	start: startProsodyServer,
}

func startProsodyServer(t testing.TB, o Options, h Harness) Server {
	t.Helper()
	version := prosody.Version012
	if h.Caps.SASL2 {
		version = prosody.Version13
	}
	// An attached server stands in for Prosody 0.12 only.
	if Attached() && version == prosody.Version012 {
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
		DirectTLSPort:  o.DirectTLSPort || h.Caps.SASL2,
		Version:        version,
	})
	if s.External() && o.Hibernation > 0 && s.Hibernation() > o.Hibernation+3*time.Second {
		t.Skipf("the attached server's hibernation time (%v) is too long for this test", s.Hibernation())
	}
	return prosodyServer{s, h}
}

type prosodyServer struct {
	*prosody.Server
	h Harness
}

func (s prosodyServer) Name() string { return s.h.Name }
func (s prosodyServer) Caps() Caps   { return s.h.Caps }

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
		SCRAM:              []string{"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"},
	},
	start: startEjabberdServer,
}

// ejabberd2412Harness is ejabberd 24.12 from bookworm-backports
// (scripts/setup.sh), with mod_auth_fast and SCRAM-SHA-256 hashes.
var ejabberd2412Harness = Harness{
	Name: "ejabberd-24.12",
	Caps: Caps{
		ShutdownError:      "system-shutdown",
		OfflineRace:        true,
		ResumeHandoverRace: true,
		ExpiredToOffline:   true,
		DirectTLS:          true,
		NoSM:               true,
		SASL2:              true,
		SCRAM:              []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"},
		ChannelBindings:    []string{"tls-exporter", "tls-server-end-point"},
	},
	start: startEjabberdServer,
}

func startEjabberdServer(t testing.TB, o Options, h Harness) Server {
	t.Helper()
	version := ejabberd.Version2301
	if h.Caps.SASL2 {
		version = ejabberd.Version2412
	}
	return ejabberdServer{StartEjabberd(t, ejabberd.Options{
		Accounts:       o.Accounts,
		Hibernation:    o.Hibernation,
		MAM:            o.MAM,
		DisableOffline: o.DisableOffline,
		DisableSM:      o.DisableSM,
		DirectTLSPort:  o.DirectTLSPort || h.Caps.SASL2,
		Version:        version,
	}), h}
}

type ejabberdServer struct {
	*ejabberd.Server
	h Harness
}

func (s ejabberdServer) Name() string { return s.h.Name }
func (s ejabberdServer) Caps() Caps   { return s.h.Caps }

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
