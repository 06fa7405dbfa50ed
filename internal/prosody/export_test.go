package prosody

import "github.com/xmppbg/xmppbg/internal/serverproc"

// Exported for the external test package.
var (
	StreamHeader = serverproc.StreamHeader
	ReadUntil    = serverproc.ReadUntil
)

// Config is the embedded config template.
var Config = config
