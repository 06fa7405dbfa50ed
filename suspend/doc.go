// Package suspend simulates the lifecycle of a mobile app that holds an XMPP
// connection: active, background (a finite background-task window with an
// expiration handler), suspended, and active again. Its Detector notices
// the real suspensions nobody announces.
//
// # What it owns
//
// The lifecycle state machine and its events, the background policies (hold,
// detach, close) that run when the background window ends, and the fault
// model: a net.Conn wrapper through which a socket can be torn by RST, silently
// black-holed, or reclaimed by the OS, as happens to a suspended app.
//
// # What it must not do
//
// It never dials and never speaks XMPP itself: it drives a supervisor (package
// reconnect) through its methods and wraps the connections that supervisor
// dials.
//
// # States
//
// An App is Active, Background or Suspended, as an iOS or Android app is.
// It starts Active and moves thus:
//
//	Active     -- BeginBackgroundTask --------------> Background
//	Background -- window expires, EndBackgroundTask -> Suspended
//	Active     -- Suspend ---------------------------> Suspended
//	Background -- Suspend ---------------------------> Suspended
//	Background -- Resume (window cancelled) ---------> Active
//	Suspended  -- Resume ----------------------------> Active
//
// Any other call is an error wrapping ErrTransition, which names the call,
// the state, and the states the call wants. Changes happen one at a time: a
// call made during another waits for it.
//
// # The background window
//
// Going to the background, an app may ask the OS for a background task: a
// finite window (about 30 s on iOS; 20 s is a common self-imposed limit) in
// which it still runs. BeginBackgroundTask starts it and tells the server
// the client is inactive (XEP-0352, Supervisor.SetActive(false)). Three
// things can end it:
//
//   - The window expires: the expiration handler runs (WindowExpired is
//     reported first), then the policy, then the app is suspended. The
//     handler runs without the App's locks and may call its methods, such as
//     EndBackgroundTask.
//   - The app ends its task early (EndBackgroundTask): the policy runs and
//     the app is suspended now; the expiration handler does not run.
//   - The user comes back (Resume): the window is cancelled, no policy runs,
//     and the app is active again without having lost its connection.
//
// # Policies
//
// The policy decides what happens to the connection just before the app is
// suspended:
//
//   - PolicyDetach (the default) calls Supervisor.Detach: a last <a/>, then
//     the TCP connection is closed without </stream:stream>, so the server
//     keeps the stream and Resume resumes it (XEP-0198) with nothing lost.
//   - PolicyHold leaves the connection open and hopes it survives. It often
//     does not: see the faults below.
//   - PolicyClose calls Supervisor.Logout, bounded by Options.LogoutTimeout:
//     the stream ends for good and Resume opens a fresh session.
//
// The policy always runs; whether there is a stream to detach or close is
// the supervisor's business, and its error is reported in PolicyRan without
// stopping the suspension. Then the supervisor is paused (Supervisor.Pause)
// and every connection is frozen.
//
// # Suspended means no I/O
//
// A suspended app runs no code: nothing reads or writes its sockets, and
// its supervisor, paused, runs no timer that touches them. When Suspend (or
// the end of the window) returns, every connection dialed through App.Dial
// is frozen: a call that was blocked in the socket has been interrupted and
// parked, and every Read and Write waits until Resume. What the peer sends
// meanwhile stays in the kernel's buffer; the peer sees a live connection
// that does not answer. A dial attempted while suspended fails with
// ErrSuspended; one that completes during the suspension returns a frozen
// connection.
//
// Resume thaws the connections, unpauses the supervisor (which probes the
// connection at once and repairs it if it is dead), then tells the server
// the client is active again (Supervisor.SetActive(true)). That call is made
// whether a connection is up or not: the supervisor keeps the choice for its
// next session, and an error is reported in CSISent, not returned.
//
// # Faults
//
// A socket left open across a suspension dies in one of three ways, which
// Inject (App.Inject for the current connection, Conn.Inject for any)
// reproduces at once, whatever the state:
//
//   - FaultRST: the network tears the connection (a NAT or carrier timeout,
//     the server giving up). The socket is closed with SO_LINGER 0, so a TCP
//     peer receives a reset; the app's Reads and Writes fail with a
//     *net.OpError wrapping syscall.ECONNRESET.
//   - FaultBlackhole: everything is silently dropped both ways. The socket
//     stays open and is left alone, so the peer sees a silent connection;
//     the app's Writes report success and send nothing, its Reads return
//     nothing until Close or their deadline. Only a probe with a timeout
//     finds out.
//   - FaultReclaim: the OS closes the descriptor under the app. The peer
//     reads EOF; the app's calls fail with errors wrapping net.ErrClosed.
//
// A fault injected into a frozen connection hits the network at once (the
// peer sees a reset or an EOF while the app sleeps) but the app sees it only
// after Resume, as a real app does.
//
// # Deadlines
//
// A Conn keeps the caller's deadlines: they are recorded, set on the socket
// whenever it is live, and restored at Thaw. A deadline that passes while a
// call is parked (frozen, or reading from a blackhole) ends the call with a
// timeout error wrapping os.ErrDeadlineExceeded, as a socket would.
//
// # Events
//
// Options.OnEvent receives StateChanged, WindowExpired, PolicyRan, CSISent
// and FaultInjected values, in order and one at a time, without locks held.
// An event may arrive on another goroutine than the call that caused it,
// shortly after that call returns.
//
// # Suspensions nobody announces
//
// App frames a suspension the application knows about. A real one is often
// not announced: the OS stops the process (SIGSTOP, a cgroup freezer, iOS
// suspending the app) or the whole machine sleeps, and the code learns
// nothing. A Detector notices by itself, from these signs, and reports a
// Woke saying which (Cause) and how long it measured:
//
//   - SIGCONT (Unix): the process was stopped and continued. Noticed at
//     once.
//   - CLOCK_BOOTTIME moving ahead of CLOCK_MONOTONIC (Linux; on macOS
//     CLOCK_MONOTONIC_RAW ahead of CLOCK_UPTIME_RAW): the machine slept, since
//     the monotonic clock stops during a system suspend and the boot-time
//     clock does not. Unlike the wall clock, neither is stepped by
//     users or NTP. Noticed at the next check, at most Interval after the
//     wake (Go's timers follow the monotonic clock).
//   - The detector's own timer firing far later than scheduled: the process
//     did not run, whatever stopped it. Noticed at once on thaw when the
//     freeze outlasted Interval + LateAfter.
//   - A change of network (Linux, route netlink): an address removed, or a
//     default route added or removed, as when a phone moves between Wi-Fi
//     and the cellular network; the established connection's path may be
//     gone. Reported once per burst of changes, Settle after its first
//     message. Adding an address alone changes nothing for a connection.
//
// Each means what Resume means: probe the connection and repair it
// (reconnect.Client.Wake). The detector sends nothing on the network, and
// its timer wakes the process every DefaultCheckInterval (30 s) to read two
// clocks: microseconds of CPU, never the radio, and nothing at all while
// the process is frozen or the machine sleeps; netlink is local to the
// machine and wakes it only when the network changes. Options set the
// thresholds; a Clock can be injected, so that tests drive freezes and
// sleeps under testing/synctest (with NoSignal and NoNetwork: the real
// watchers block outside the bubble's control).
//
// # Time and tests
//
// Timing uses the time package (timers and deadlines) and every wait is on
// a channel, so the whole lifecycle runs under testing/synctest with fake
// time over net.Pipe: a 20 s window expires in microseconds, exactly on
// time.
package suspend
