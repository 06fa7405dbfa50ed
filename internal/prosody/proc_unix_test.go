//go:build unix

package prosody_test

import (
	"errors"
	"fmt"
	"syscall"
)

// processGone returns nil when no process pid exists (kill 0 says ESRCH),
// or what says otherwise.
func processGone(pid int) error {
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill 0: %v", err)
	}
	return nil
}
