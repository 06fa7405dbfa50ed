package suspend

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchNetwork subscribes to the kernel's address and route changes (route
// netlink) and sends on the returned channel when one may have cut the
// path of a connection (networkChanged). It sends nothing itself: netlink
// is local to the machine. stop closes the socket and waits for the reader.
func watchNetwork() (changes <-chan struct{}, stop func(), err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, nil, fmt.Errorf("suspend: netlink socket: %w", err)
	}
	groups := uint32(unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("suspend: netlink bind: %w", err)
	}
	// Non-blocking: reads wait in Go's poller, and Close ends them.
	f := os.NewFile(uintptr(fd), "netlink-route")
	ch := make(chan struct{}, 1)
	notify := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			switch {
			case errors.Is(err, unix.ENOBUFS):
				// The kernel dropped messages of a burst: something
				// changed, what is unknown.
				notify()
			case err != nil:
				return // closed
			case networkChanged(buf[:n]):
				notify()
			}
		}
	}()
	return ch, func() { f.Close(); <-done }, nil
}
