//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// watchResize calls f when the terminal is resized (SIGWINCH) until stop is
// called.
func watchResize(f func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				f()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
