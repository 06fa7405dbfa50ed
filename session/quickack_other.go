//go:build !linux

package session

import "net"

// quickAcker is Linux's TCP_QUICKACK (quickack_linux.go); elsewhere there
// is no such option and ACKs are left to the kernel.
func quickAcker(net.Conn) func() { return nil }
