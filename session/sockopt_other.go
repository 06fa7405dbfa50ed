//go:build !linux

package session

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing: TCP_USER_TIMEOUT is Linux's. Elsewhere the
// ack timeout and the keepalive are what find a silent connection.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }
