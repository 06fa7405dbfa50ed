package prosody

import (
	"context"

	"github.com/xmppbg/xmppbg/internal/serverproc"
)

// Exported for the external test package.
var (
	StreamHeader = serverproc.StreamHeader
	ReadUntil    = serverproc.ReadUntil
)

// Config is the embedded config template.
var Config = config

// ErrPortTaken is what launch returns when Prosody could not bind its port.
var ErrPortTaken = errPortTaken

// LaunchOnPort launches a new local server on port, without Start's retry
// on a taken port, and stops it again. It returns launch's error, the PID
// it left running (0 if none) and the tail of its log.
func LaunchOnPort(ctx context.Context, port int) (pid int, log string, err error) {
	b, err := newLocal(Options{})
	if err != nil {
		return 0, "", err
	}
	defer b.Stop()
	b.port = port
	b.mu.Lock()
	err = b.launch(ctx)
	b.mu.Unlock()
	return b.PID(), b.LogTail(30), err
}
