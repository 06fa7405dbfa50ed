// Command xmppbg is a command-line XMPP client built on package session: it
// logs in with TLS and SASL, uses XEP-0198 stream management when the server
// offers it, and reports what happened as human text or as JSON lines.
//
// # Commands
//
//	xmppbg send TO TEXT...   send one chat message and wait until the server
//	                         acknowledged it (TEXT "-" reads it from stdin)
//	xmppbg listen            print incoming chat messages until interrupted,
//	                         until --count messages or until --timeout
//	xmppbg chat              interactive (or --json) chat through a simulated
//	                         app lifecycle: /bg, /suspend, /resume, /tear
//	xmppbg server            run a throwaway local Prosody with two accounts
//	xmppbg demo [SCENARIO]   play a scenario against a throwaway Prosody
//	xmppbg completion SHELL  shell completion for bash, zsh or fish
//	xmppbg version           print the version (also: xmppbg --version)
//
// # Global flags
//
//	--jid JID                account (required for send and listen; env XMPPBG_JID)
//	--addr HOST:PORT         server address (default: the JID's domain, port 5222)
//	--ca-file FILE           trust only the PEM certificates in FILE
//	--insecure-skip-verify   do not verify the server's certificate (test servers only)
//	--password-file FILE     read the password from the first line of FILE
//	--json                   JSON lines on stdout, one event per line
//	--log-level LEVEL        debug, info, warn (default) or error; logs go to stderr
//	--config FILE            settings file (default $XDG_CONFIG_HOME/xmppbg/config)
//
// The password comes from the environment variable XMPPBG_PASSWORD, else from
// --password-file, else from a prompt when stdin is a terminal. There is
// deliberately no --password flag: command lines are visible to other users.
//
// # Output
//
// Human output goes to stdout (results) and stderr (status, warnings, errors,
// logs). With --json, stdout holds only JSON objects, one per line, each
// starting with "event" and "time" (RFC 3339, milliseconds, UTC); warnings
// and errors are also written to stderr as text.
//
// # Exit codes
//
//	0  success
//	1  other error
//	2  usage error (bad flags or arguments, missing --jid or password)
//	3  authentication failed
//	4  no trusted TLS: the certificate is not trusted, or the server offers
//	   or completes no STARTTLS (xmppbg never goes on in plaintext)
//	5  connection or network error
//	6  timeout (message not acknowledged in time, listen --timeout before --count)
package main

import "os"

// version is the program's version, set at build time with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
