//go:build unix

package ejabberd_test

import (
	"errors"
	"syscall"
)

// groupGone reports whether no process is left in process group pgid.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
