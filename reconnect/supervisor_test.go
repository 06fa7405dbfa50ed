package reconnect_test

import (
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/suspend"
)

// The lifecycle drives the client.
var _ suspend.Supervisor = (*reconnect.Client)(nil)
