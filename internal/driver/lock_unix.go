//go:build unix

package driver

import (
	"errors"
	"os"
	"syscall"
)

// lockStateFile takes an exclusive lock on the state file, so that two
// processes never resume the same stream: flock(2) on a sibling file
// (FILE.lock), since the state file itself is replaced by a rename on every
// save. The kernel drops the lock when the process dies, however it dies.
func lockStateFile(path string) (release func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrStateFileInUse
		}
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
