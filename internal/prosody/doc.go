// Package prosody runs a throwaway local Prosody XMPP server for integration
// tests and demos (the `xmppbg server` and `xmppbg demo` commands).
//
// It is test and tooling infrastructure: library packages of this module must
// not import it. The core API (Start, Server) does not depend on package
// testing; StartT is a small helper for tests.
//
// # Local mode
//
// Start runs the Debian/Ubuntu prosody binary (0.12; `apt-get install -y
// prosody`) in the foreground as a child process: `prosody -F --config FILE`.
// Everything lives in one directory (by default a new temp dir, removed by
// Stop): the config (the embedded prosody.cfg.lua, parameterised through
// XMPPBG_* environment variables that Prosody's config sandbox reads as
// ENV_XMPPBG_*), a self-signed certificate generated in Go, the data
// directory and the log file. The server listens on 127.0.0.1 only, on a free
// port, with STARTTLS required; no s2s, no HTTP, no components.
//
// When the process runs as root the config sets run_as_root, which both
// prosody (mod_posix refuses root otherwise) and prosodyctl (which would
// otherwise switch to the "prosody" user) need.
//
// # External mode
//
// When XMPPBG_TEST_SERVER is set, Start starts nothing and returns a Server
// describing an already running server (for instance the container from
// testdata/compose.yaml). Environment variables:
//
//	XMPPBG_TEST_SERVER       host:port of the server's c2s (STARTTLS) port; enables external mode
//	XMPPBG_TEST_DOMAIN       its XMPP domain (default "localhost")
//	XMPPBG_TEST_CA_FILE      PEM file clients should trust (required in external mode; a relative path
//	                         missing from the working directory is looked up from the module root)
//	XMPPBG_TEST_HIBERNATION  its smacks hibernation time as a Go duration (default 600s)
//	XMPPBG_TEST_PROSODYCTL   command prefix used to register accounts, split on spaces, followed by
//	                         "register USER DOMAIN PASS" (default "docker compose -f
//	                         <module root>/testdata/compose.yaml exec -T prosody prosodyctl")
//
// In external mode the Options other than Accounts are the external server's
// business: callers must read Domain, Hibernation, Addr and CAFile from the
// Server, never from their Options. DirectTLSAddr is "", PID is 0, LogTail is
// empty, Restart fails with ErrExternal and Stop does nothing.
//
// StartT additionally reads CI: when the prosody binary is missing it skips
// the test, except under CI=true where it fails it (integration tests never
// skip under CI).
package prosody
