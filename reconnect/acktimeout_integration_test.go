package reconnect_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/toxic"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// A message written into a connection whose path went silent (a NAT that
// forgot the flow: the established connection is black-holed, new ones
// pass) reaches the peer within 20 s, exactly once: the ack timeout finds
// the connection dead, the client repairs it at once and resends what is
// unacknowledged. Neither the kernel (minutes of retransmission) nor the
// idle probe (5 minutes) is waited for.
func TestAckTimeoutRepairsSilentPath(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		proxy, err := toxic.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		r := &rig{srv: srv}
		r.bob = r.start(t, "bob", srv.Addr(), 0, false)

		// alice's first connection goes through the proxy, later ones
		// straight to the server: only the established flow dies.
		tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
		if err != nil {
			t.Fatal(err)
		}
		alice := &account{name: "alice", jid: "alice@" + srv.Domain(), led: newLedger()}
		var dials atomic.Int64
		var d net.Dialer
		alice.client = reconnect.New(reconnect.Config{
			Session: session.Config{
				JID: alice.jid, Password: integration.Password, Addr: srv.Addr(), TLS: tlsCfg,
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if dials.Add(1) == 1 {
						addr = proxy.Addr()
					}
					return d.DialContext(ctx, network, addr)
				},
				Logger: slog.New(slog.DiscardHandler),
			},
			OnEvent: alice.led.on,
			Logger:  slog.New(slog.DiscardHandler),
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			alice.client.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		alice.led.waitUntil(t, "alice online", 10*time.Second, func() bool { return alice.client.Status() == reconnect.Online })
		if srv.Caps().OfflineRace {
			alice.led.waitUntil(t, "alice's presence handled", 10*time.Second, func() bool { return presenceAcked(alice.led, time.Time{}) })
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("alice's events:\n%s", alice.led.dump())
				t.Logf("bob's events:\n%s", r.bob.led.dump())
			}
		})

		if err := proxy.Blackhole(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		alice.send(t, r.bob, []string{"into the silence"})
		r.bob.led.waitUntil(t, "bob has the message", 30*time.Second, func() bool { return r.bob.led.got["into the silence"] > 0 })
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the message reached bob %v after it was written, want within 20 s", took)
		} else {
			t.Logf("the message reached bob %v after it was written (ack timeout %v)", took, session.DefaultAckTimeout)
		}
		_, ev := alice.led.firstAfter(start, func(e reconnect.Event) bool { _, ok := e.(reconnect.Dead); return ok })
		if dead, ok := ev.(reconnect.Dead); !ok || !errors.Is(dead.Err, session.ErrAckTimeout) {
			t.Errorf("alice's connection was found dead by %+v, want the ack timeout", ev)
		}
		// Anything late would show up now.
		alice.led.waitUntil(t, "alice online again", 10*time.Second, func() bool { return alice.client.Status() == reconnect.Online })
		r.bob.led.exactlyOnce(t, "bob", []string{"into the silence"})
		if n := dials.Load(); n != 2 {
			t.Errorf("%d dials, want 2 (one repair)", n)
		}
	})
}
