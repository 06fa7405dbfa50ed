// Package suspend simulates the lifecycle of a mobile app that holds an XMPP
// connection: active, background (a finite background-task window with an
// expiration handler), suspended, and active again.
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
package suspend
