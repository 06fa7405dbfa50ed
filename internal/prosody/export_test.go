package prosody

// Exported for the external test package.
var (
	StreamHeader = streamHeader
	ReadUntil    = readUntil
)

// Config is the embedded config template.
var Config = config
