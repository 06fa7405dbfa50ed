//go:build !unix

package proc

import (
	"errors"
	"fmt"
)

// Stop cannot stop a process here: there is no SIGSTOP.
func Stop(pid int) error {
	return fmt.Errorf("stopping process %d: SIGSTOP is Unix-only: %w", pid, errors.ErrUnsupported)
}
