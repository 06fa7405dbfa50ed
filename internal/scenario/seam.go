package scenario

import (
	"context"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// account is what the runner drives of one account. driverAccount (a
// driver.Driver) is the real one; tests script their own. The account's
// events reach the runner through the OnEvent it was made with (see
// runner.emitter), in order, one at a time; an account reports a change of
// its AppState or Status with an event after the change.
type account interface {
	// Run keeps the account connected until ctx ends or a permanent
	// error.
	Run(ctx context.Context) error
	// Send sends body to to.
	Send(ctx context.Context, to, body string) (session.Message, error)
	// Exec runs a chat command (see driver.Driver.Exec).
	Exec(ctx context.Context, c driver.Command) (string, error)
	// Peer is the recipient of plain lines.
	Peer() string
	// AppState is the simulated app's state.
	AppState() suspend.State
	// Status is the connection's status.
	Status() reconnect.Status
	// Foreground brings the app back from the background or a suspension.
	Foreground() error
	// Logout ends the stream cleanly.
	Logout(ctx context.Context) error
}

// faults breaks the path between alice and the server: unreachable and
// reachable again (server down, up), her live connection reset or
// black-holed outside her app (network rst, blackhole). *faultproxy.Proxy
// implements it.
type faults interface {
	Down() error
	Up() error
	ResetPeer() error
	BlackholeLive() error
}

// freezer is an account whose app runs in a process of its own, which the
// OS can stop and continue (freeze, thaw). procAccount implements it.
type freezer interface {
	Freeze() error
	Thaw() error
	Frozen() bool
}

// driverAccount is an account played by a driver.Driver.
type driverAccount struct{ d *driver.Driver }

func (a driverAccount) Run(ctx context.Context) error { return a.d.Run(ctx) }

func (a driverAccount) Send(ctx context.Context, to, body string) (session.Message, error) {
	return a.d.Send(ctx, to, body)
}

func (a driverAccount) Exec(ctx context.Context, c driver.Command) (string, error) {
	return a.d.Exec(ctx, c)
}

func (a driverAccount) Peer() string                     { return a.d.Peer() }
func (a driverAccount) AppState() suspend.State          { return a.d.App().State() }
func (a driverAccount) Status() reconnect.Status         { return a.d.Client().Status() }
func (a driverAccount) Foreground() error                { return a.d.App().Resume() }
func (a driverAccount) Logout(ctx context.Context) error { return a.d.Client().Logout(ctx) }
