//go:build !unix

package scenario

import (
	"errors"
	"os"
)

// errNoStop: without SIGSTOP there is no way to freeze a process here.
var errNoStop = errors.New("freezing a process needs SIGSTOP and SIGCONT (Unix)")

func stop(*os.Process) error { return errNoStop }

// cont has nothing to continue: nothing was stopped.
func cont(*os.Process) error { return nil }
