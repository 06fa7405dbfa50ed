// Package scenario runs scripted demos of the suspend-and-repair cycle against
// a real XMPP server: a small line-based language, a runner that plays a
// script with two accounts, and a timeline of what happened, as text or as an
// SVG picture. `xmppbg demo` is built on it.
//
// It lives under internal/ because it is demo and test tooling, not library
// API.
//
// # The cast
//
// alice is the account under test: a driver.Driver (a reconnect.Client inside
// a simulated app, package suspend) with the script's background policy. bob
// is her peer: a second Driver that is never suspended. Both log in before the
// first statement runs. In chat commands, the names alice and bob stand for
// their JIDs.
//
// # The language
//
// A script is a text file, one statement per line. Blank lines are ignored,
// and so is everything from a # that begins a word to the end of the line,
// except in message text (say, /msg), which is taken literally. Durations are
// Go durations (500ms, 2s, 1m30s); counts are whole numbers.
//
// Setup, before any other statement:
//
//	policy hold|detach|close   alice's background policy (default detach): what
//	                           the app does with its connection before it is
//	                           suspended (see package suspend)
//
// alice's chat commands, exactly as the chat client takes them
// (driver.ParseCommand):
//
//	/bg [DURATION]             go to the background with a task window (1 s by
//	                           default); when it ends, the policy runs and the
//	                           app is suspended
//	/suspend                   suspend now (the policy runs first)
//	/resume                    come back to the foreground: the connection is
//	                           probed and repaired
//	/tear rst|blackhole|reclaim  break the current connection that way
//	/msg JID TEXT              send TEXT to JID
//	/to JID                    make JID the current peer (bob at the start)
//	/status                    record alice's status in the timeline
//	say TEXT                   send TEXT to the current peer (what typing TEXT
//	                           does in the chat client; a bare line of text
//	                           would make a misspelt statement a message)
//
// Messages:
//
//	send N [every D]           alice sends N numbered messages to bob
//	                           ("alice #1", "alice #2", … numbered across the
//	                           run); with every, one each D in the background
//	                           while the next statements run
//	peer send N [every D]      bob sends N numbered messages to alice
//
// A suspended app runs no code: alice's sends while she is suspended fail
// (recorded as a failure), bob's go on.
//
// Waiting:
//
//	wait DURATION              do nothing for DURATION
//	wait online [within D]     until alice's connection is online
//	wait state STATE [within D]  until alice's app state (active, background,
//	                           suspended) or connection state (connecting,
//	                           online, resuming, reconnecting, offline) is STATE
//	wait hibernation           the server's hibernation time (how long it keeps
//	                           a broken stream resumable) plus 1.5 s
//
// Without within, waits are bounded by Env.Timeout (20 s by default); one that
// times out is a failure.
//
// The server (the runner must control it):
//
//	server restart             stop the server with SIGTERM and start it again
//	server kill                the same with SIGKILL
//	server down                make the server unreachable for alice (her
//	                           connection is closed, her dials refused)
//	server up                  make it reachable again
//
// The network between alice and the server, outside her app:
//
//	network rst                the network resets alice's live connection
//	                           (a TCP RST); new connections pass
//	network blackhole          the network silently drops alice's live
//	                           connection, both ways, without closing it (a
//	                           NAT that lost its mapping); new connections pass
//
// Restarting needs Env.Server; down, up and the network faults route alice
// through an in-process proxy (internal/faultproxy), started only for
// scripts that use them.
//
// The OS, unannounced:
//
//	freeze                     the OS stops alice's app: its process gets
//	                           SIGSTOP and runs no code at all, timers
//	                           included, until thaw; nothing tells the app
//	thaw                       the OS continues it (SIGCONT); nothing tells
//	                           it either: it must notice by itself that it was
//	                           stopped, probe its connection and repair it
//
// Only a process can be stopped for real: a script with freeze runs alice as
// a real chat client, "xmppbg chat --json" (Env.AppBinary), in a process of
// her own, and drives it through its input and its JSON events; other
// scripts run her in the runner's process. A freeze must be followed by a
// thaw before the next freeze. A frozen app takes no command and sends
// nothing (recorded as a failure); bob goes on. A thaw begins a repair, like
// /resume, that only the app itself can carry out.
//
// # Expectations
//
//	expect received N [within D]       alice has received exactly N distinct
//	                                   messages from bob (waiting up to D for
//	                                   the Nth)
//	expect peer received N [within D]  bob has received exactly N distinct
//	                                   messages from alice
//	expect resumed [within D]          alice's last repair resumed the stream
//	                                   (XEP-0198) and, with within, she was
//	                                   online again at most D after it began
//	expect fresh [within D]            the last repair opened a fresh session
//	expect kept [within D]             the last repair found the connection
//	                                   alive (the probe answered)
//	expect delivered [within D]        every message sent between alice and bob
//	                                   so far (numbered or typed) arrived
//	                                   exactly once, waiting up to D for the
//	                                   last ones
//	expect no duplicates               no message was delivered twice so far
//
// A repair begins at /resume from a suspension, at a thaw, or when alice's
// connection is found dead while she runs (a server restart, server down, /tear while
// active), and ends when she is online again. Messages are told apart by their
// XEP-0359 origin-id, so a message resent after a failed resumption and
// delivered twice counts as a duplicate; one that package session's
// de-duplication caught is counted separately and delivered once.
//
// A failed expectation is recorded and the run goes on; so does a statement
// that cannot be carried out (a /resume while active, a wait that timed out).
// The run passes when nothing failed.
//
// # An example
//
//	# The network tears the socket of a suspended app.
//	policy hold
//	send 2
//	/bg 500ms
//	wait state suspended
//	peer send 3            # bob keeps writing
//	/tear rst
//	wait 1s
//	/resume
//	expect resumed within 2s
//	expect delivered
//
// # Bundled scenarios
//
// testdata/scenarios holds the bundled scripts, embedded here (see Bundled):
// story.scn (the built-in demo), one per fault (fault-rst, fault-blackhole,
// fault-reclaim), one per policy (policy-hold, policy-detach, policy-close),
// server-restart, server-down, and freeze-blackhole (the real story: the
// app frozen by SIGSTOP while the network drops its connection, back by
// itself after SIGCONT, with no /resume).
//
// # The timeline
//
// Run records every event of alice's and bob's drivers, every statement and
// every expectation's outcome, with times since the start. Result.WriteText
// prints it with what it means (how long after /resume the dead connection
// was found, how long the resumption took) and a summary: messages each way,
// lost and duplicated, each repair and how long it took, the failures.
// Result.WriteSVG draws it: lanes for alice's app state, her connection and
// bob's, arrows for messages, and marks for faults, repairs and the server's
// restarts; a freeze is a hatched band over alice's lanes, and the moment
// her app reported that it noticed the suspension a yellow line across them.
//
// # The runner
//
// run.go holds the run's lifecycle (start both accounts, wait until they
// are online, run the statements, wait for what is on its way, log out),
// statements.go and expect.go what each statement does, ledger.go the
// messages sent and received each way, narrate.go the timeline's text and
// alice's repairs. The runner drives each account through a small
// interface (seam.go): Run plays it with a driver.Driver, and the tests
// with scripted accounts inside a testing/synctest bubble, so that the
// engine's timing is tested in fake time without a server. Waits wake on
// the accounts' events, not on a timer.
package scenario
