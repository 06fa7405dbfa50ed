// Package serverproc holds the process handling that the throwaway-server
// harnesses (internal/prosody, internal/ejabberd) share: a process group of
// their own, killing it, a readiness probe, free ports, and telling whether
// the server (and not another process) holds its port. It ships in the
// xmppbg binary through internal/prosody, so it imports neither package
// testing nor any test-only package. Library packages must not import it.
package serverproc
