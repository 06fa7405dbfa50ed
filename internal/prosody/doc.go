// Package prosody runs a throwaway local Prosody XMPP server. It ships in the
// xmppbg binary: `xmppbg server` and `xmppbg demo` start their server with
// it. The integration tests start theirs through internal/integration, which
// wraps Start for package testing.
//
// Library packages of this module must not import it, and it imports neither
// package testing nor any test-only package, and reads no environment
// variable of the tests (internal/tiers_test.go checks the imports).
//
// # Local servers
//
// Start runs the Debian/Ubuntu prosody binary (0.12; `apt-get install -y
// prosody`) in the foreground as a child process: `prosody -F --config FILE`.
// With Options.Version = Version13 it runs Prosody 13.0.1 instead, which
// scripts/setup.sh extracts from bookworm-backports (with prosody-modules)
// into ServersDir()/prosody-13 beside the system's 0.12: its launchers are
// copies whose CFG_* paths point into that tree (the packaged ones would
// run the 0.12 code under /usr/lib/prosody). The config then also loads
// mod_sasl2, mod_sasl2_bind2, mod_sasl2_fast, mod_sasl2_sm and
// mod_sasl_ssdp (SASL2, Bind2, FAST, inline resumption, XEP-0474). Find
// says whether a version is installed, and how to get it.
// Everything lives in one directory (by default a new temp dir, removed by
// Stop): the config (the embedded prosody.cfg.lua, parameterised through
// XMPPBG_* environment variables of the child that Prosody's config sandbox
// reads as ENV_XMPPBG_*), a self-signed certificate generated in Go, the
// data directory and the log file. The server listens on 127.0.0.1 only, on
// a free port, with STARTTLS required; no s2s, no HTTP, no components.
//
// When the process runs as root the config sets run_as_root, which both
// prosody (mod_posix refuses root otherwise) and prosodyctl (which would
// otherwise switch to the "prosody" user) need.
//
// # Attached servers
//
// Attach starts nothing and returns a Server describing an already running
// server (for instance the container from testdata/compose.yaml), described
// by a Remote: its address, domain, CA file, hibernation time and the
// prosodyctl command prefix that registers accounts. The tests attach to one
// when XMPPBG_TEST_SERVER is set (see internal/integration). An attached
// Server's DirectTLSAddr is "", PID is 0, LogTail is empty, Restart fails
// with ErrExternal and Stop does nothing; External reports true.
package prosody
