package ejabberd

// Exported for the external test package.
var (
	StreamHeader = streamHeader
	ReadUntil    = readUntil
)

// TestdataConfig renders the config as testdata/ejabberd/ejabberd.yml holds
// it.
func TestdataConfig() ([]byte, error) { return renderConfig(testdataParams) }
