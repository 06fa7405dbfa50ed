//go:build unix

package suspend

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyContinued returns a channel that receives SIGCONT, and the function
// that stops the notification.
func notifyContinued() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCONT)
	return ch, func() { signal.Stop(ch) }
}
