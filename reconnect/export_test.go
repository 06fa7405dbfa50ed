package reconnect

import (
	"context"

	"github.com/xmppbg/xmppbg/session"
)

// Conn is what the client needs of a session; tests provide fakes.
type Conn = conn

// SetConnect replaces how the client logs in.
func (c *Client) SetConnect(f func(ctx context.Context, cfg session.Config, st *session.State) (Conn, error)) {
	c.connect = f
}

// SetRand replaces the jitter source: randn(n) returns a value in [0, n).
func (c *Client) SetRand(randn func(int64) int64) { c.randn = randn }

// IsPermanent exposes permanent.
var IsPermanent = permanent
