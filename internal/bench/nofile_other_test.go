//go:build !unix

package bench_test

import "testing"

// raiseNoFile does nothing: there is no RLIMIT_NOFILE outside Unix.
func raiseNoFile(testing.TB) {}
