//go:build !unix

package prosody_test

import (
	"errors"
	"os"
)

// processGone returns nil when no process pid exists: without kill 0,
// a process that exists is one the system lets us open.
func processGone(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	_ = p.Release()
	return errors.New("the process still exists")
}
