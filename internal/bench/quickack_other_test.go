//go:build !linux

package bench_test

import "github.com/xmppbg/xmppbg/internal/bench"

// quickAckSupported: TCP_QUICKACK is a Linux socket option; elsewhere the
// experiment that uses it is not run.
const quickAckSupported = false

// quickAckDial is not called where quickAckSupported is false.
func quickAckDial(dial bench.DialFunc) bench.DialFunc { return dial }
