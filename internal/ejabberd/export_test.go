package ejabberd

import "github.com/xmppbg/xmppbg/internal/serverproc"

// Exported for the external test package.
var (
	StreamHeader = serverproc.StreamHeader
	ReadUntil    = serverproc.ReadUntil
)

// TestdataConfig renders the config as testdata/ejabberd/ejabberd.yml holds
// it.
func TestdataConfig() ([]byte, error) { return renderConfig(testdataParams) }
