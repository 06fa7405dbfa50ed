//go:build !unix

package suspend

import "os"

// notifyContinued returns nil: there is no SIGCONT here.
func notifyContinued() (<-chan os.Signal, func()) { return nil, func() {} }
