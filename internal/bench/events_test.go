package bench_test

import (
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/reconnect"
)

// events records a client's events with the time they were delivered.
type events = integration.Recorder[reconnect.Event]

func isOnline(ev reconnect.Event) bool {
	s, ok := ev.(reconnect.StatusChanged)
	return ok && s.Status == reconnect.Online
}

func isDead(ev reconnect.Event) bool {
	_, ok := ev.(reconnect.Dead)
	return ok
}

func isConnected(ev reconnect.Event) bool {
	_, ok := ev.(reconnect.Connected)
	return ok
}
