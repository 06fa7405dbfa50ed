// Package integration runs the integration tests against real XMPP servers.
// It is test-only: only _test.go files and other test-only packages import
// it (internal/tiers_test.go enforces that), which is why it may import
// package testing.
//
// It follows mellium's internal/integration: one harness per server knows
// how to start it, and a feature's integration test is written once, as a
// function of a [Server], and run for every server the harnesses know:
//
//	func TestRoundTrip(t *testing.T) {
//		integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
//			// alice and bob exist on srv, with integration.Password
//		})
//	}
//
// Each runs one subtest per harness, named after the server and its version
// (prosody-0.12, ejabberd-23.01, prosody-13, ejabberd-24.12), on a server of
// its own started with the given [Options] and stopped at the end of the
// subtest. Where the servers
// really differ, the test asks [Server.Caps] rather than the server's name;
// a harness that cannot honour an option (Options.DirectTLSPort or
// DisableSM without Caps.DirectTLS or Caps.NoSM) is left out of that test,
// and Each logs why. Adding a server costs one harness in harness.go, not a
// copy of the suites.
//
// # The four servers
//
//	prosody-0.12    Debian 12's Prosody 0.12.3 (apt-get install -y prosody)
//	ejabberd-23.01  Debian 12's ejabberd 23.01 (apt-get install -y ejabberd)
//	prosody-13      Prosody 13.0.1 + prosody-modules (sasl2, sasl2_bind2,
//	                sasl2_fast, sasl2_sm, sasl_ssdp), from bookworm-backports
//	ejabberd-24.12  ejabberd 24.12 from bookworm-backports, with
//	                mod_auth_fast and SCRAM-SHA-256 hashes
//
// scripts/setup.sh installs the first two and extracts the modern two into
// /opt/xmppbg/servers (XMPPBG_SERVERS_DIR) beside them; see
// prosody.Find and ejabberd.Find. The modern servers have Caps.SASL2:
// SASL2, Bind2, FAST, inline resumption, XEP-0474 and CSI, and their
// harnesses always open a direct TLS port (Server.DirectTLSAddr) beside
// the STARTTLS one (Server.Addr). A test of the modern login:
//
//	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
//		if !srv.Caps().SASL2 {
//			// the classic path: SASL, bind, <enable/>
//		}
//		// dial srv.DirectTLSAddr(), trust srv.CAFile(), log in as alice
//	})
//
// Starting one directly: StartProsody(t, prosody.Options{Version:
// prosody.Version13, DirectTLSPort: true}) or StartEjabberd(t,
// ejabberd.Options{Version: ejabberd.Version2412, DirectTLSPort: true}).
//
// XMPPBG_TEST_SERVERS selects servers: a comma-separated list of harness
// names or server names (prosody, ejabberd), e.g.
// XMPPBG_TEST_SERVERS=prosody-13,ejabberd-24.12; unset, all four. An
// unknown name fails the test.
//
// # Missing servers
//
// When a server's binary is missing, its subtests skip, except under
// CI=true, where they fail: integration tests never skip under CI (and
// with XMPPBG_TEST_SERVERS unset, CI needs all four: run
// scripts/setup.sh).
//
// # Starting one server
//
// Tests that need one particular server, with its own API, call
// StartProsody, StartEjabberd or StartEjabberds; they stop the server at the
// end of the test and log the tail of its log if the test failed.
//
// # Attached Prosody
//
// When XMPPBG_TEST_SERVER is set, the prosody-0.12 harness and
// StartProsody (for Prosody 0.12) start nothing and attach to that server
// instead (prosody.Attach), for instance
// the container of testdata/compose.yaml:
//
//	XMPPBG_TEST_SERVER       host:port of the server's c2s (STARTTLS) port; enables attaching
//	XMPPBG_TEST_DOMAIN       its XMPP domain (default "localhost")
//	XMPPBG_TEST_CA_FILE      PEM file clients should trust (required; a relative path missing
//	                         from the working directory is looked up from the module root)
//	XMPPBG_TEST_HIBERNATION  its smacks hibernation time as a Go duration (default 600s)
//	XMPPBG_TEST_PROSODYCTL   command prefix used to register accounts, split on spaces, followed by
//	                         "register USER DOMAIN PASS" (default "docker compose -f
//	                         <module root>/testdata/compose.yaml exec -T prosody prosodyctl")
//
// The Options other than Accounts are then the attached server's business:
// tests read Domain, Hibernation, Addr and CAFile from the Server. Each skips
// a test whose Options an attached server cannot honour (a restart, a short
// hibernation, MAM, ...): setting XMPPBG_TEST_SERVER is the user's explicit
// choice, not a missing binary.
//
// These variables are test configuration: the shipped binary never reads
// them.
//
// # Shared test helpers
//
// DirectTLSFeatures and ModernLogin check a server's direct TLS port and
// its modern login by hand, for the harnesses' own tests; Recorder keeps a
// client's events with their delivery times, for the benchmarks and the
// soak.
package integration
