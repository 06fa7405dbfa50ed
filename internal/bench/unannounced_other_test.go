//go:build !unix

package bench_test

import "testing"

// reportUnannounced needs SIGSTOP and SIGCONT: Unix only.
func reportUnannounced(t *testing.T) {
	t.Skip("the unannounced-fault measurements stop and continue a process: Unix only")
}
