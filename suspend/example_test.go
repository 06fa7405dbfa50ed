package suspend_test

import (
	"fmt"
	"net"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// The supervisor dials through the App, so that its connections can be
// frozen and faulted.
func Example() {
	var sup suspend.Supervisor // e.g. a *reconnect.Client using dial below
	app := suspend.New(sup, suspend.Options{
		Policy: suspend.PolicyHold,
		OnEvent: func(e suspend.Event) {
			fmt.Printf("%T %+v\n", e, e)
		},
	})
	var d net.Dialer
	dial := app.Dial(d.DialContext) // the supervisor's dialer
	_ = dial

	// The user leaves the app: 20 s of background, then suspension.
	app.BeginBackgroundTask(20*time.Second, func() {
		// The expiration handler.
	})
	time.Sleep(20 * time.Second)

	// The NAT forgets the connection while the app sleeps.
	app.Inject(suspend.FaultBlackhole)

	// The user comes back: the supervisor probes and repairs.
	app.Resume()
}
