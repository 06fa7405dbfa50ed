//go:build !unix

package ejabberd_test

import "os"

// groupGone reports whether the server's process pgid is gone: without
// process groups (internal/serverproc) it is the one Stop ends, and a
// process that exists is one the system lets us open.
func groupGone(pgid int) bool {
	p, err := os.FindProcess(pgid)
	if err != nil {
		return true
	}
	_ = p.Release()
	return false
}
