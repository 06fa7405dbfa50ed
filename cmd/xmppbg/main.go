// Command xmppbg is a command-line XMPP client built on package session: it
// logs in with TLS and SASL, uses XEP-0198 stream management when the server
// offers it, and reports what happened as human text or as JSON lines.
//
// # Commands
//
//	xmppbg send TO [TEXT...]  send one chat message and wait until the server
//	                          acknowledged it and did not bounce it (no TEXT
//	                          or "-": the text from stdin)
//	xmppbg send TO... -- [TEXT...]
//	                          the same to several recipients
//	xmppbg listen             print incoming chat messages until interrupted,
//	                          until --count messages or until --timeout
//	xmppbg chat               interactive (or --json) chat through a simulated
//	                          app lifecycle: /bg, /suspend, /resume, /tear
//	xmppbg server             run a throwaway local Prosody with two accounts
//	xmppbg demo [SCENARIO]    play a scenario against a throwaway Prosody
//	xmppbg completion SHELL   shell completion for bash, zsh, fish or powershell
//	xmppbg version            print the version (also: xmppbg --version)
//
// # Global flags
//
//	--jid JID                account (required for send and listen; env XMPPBG_JID)
//	--addr HOST:PORT         server address (default: found through DNS SRV for the JID's domain, else its port 5222)
//	--direct-tls             TLS at once (XEP-0368) instead of STARTTLS
//	--no-sasl2               the classic login even where SASL2/FAST is offered
//	--ca-file FILE           trust only the PEM certificates in FILE
//	--insecure-skip-verify   do not verify the server's certificate (test servers only)
//	--password-file FILE     read the password from the first line of FILE
//	--password-command CMD   the first line CMD prints (sh -c) is the password
//	--login-timeout DURATION bound the dial, TLS and authentication (default 30s)
//	--json                   JSON lines on stdout, one event per line
//	--log-level LEVEL        debug, info, warn (default) or error; logs go to stderr
//	--config FILE            settings file (default $XDG_CONFIG_HOME/xmppbg/config)
//
// The password comes from the environment variable XMPPBG_PASSWORD, else from
// --password-file, else from --password-command, else from a prompt on the
// terminal (the controlling terminal, also when stdin is a pipe). There is
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
//	1  other error (e.g. the server does not serve the JID's domain)
//	2  usage or configuration error (bad flags or arguments, an invalid JID or
//	   address, missing --jid or password, a file named by a flag or the
//	   configuration that cannot be read)
//	3  authentication failed
//	4  no trusted TLS: the certificate is not trusted, or the server offers
//	   or completes no STARTTLS (xmppbg never goes on in plaintext)
//	5  connection or network error (refused, unreachable, reset, no XMPP
//	   server on that port)
//	6  timeout (message not acknowledged in time, listen --timeout before
//	   --count, chat left with messages unacknowledged)
//	7  a demo scenario ran but failed an expectation
//	8  send: a message bounced (an error reply came back for it)
package main

import "os"

// version is the program's version, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the build info says (see
// versionString).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
