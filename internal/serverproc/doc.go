// Package serverproc holds the process handling that the throwaway-server
// harnesses (internal/prosody, internal/ejabberd) share: a process group of
// their own, killing it, and telling whether the server (and not another
// process) holds its port. Library packages must not import it.
package serverproc
