//go:build unix

package driver_test

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// countingConn counts the bytes the client writes.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// An idle, healthy client with the detector on writes nothing at all, while
// the detector checks its clocks many times; a SIGCONT then costs one probe,
// reported as a woke event before the repair it causes. Not parallel: the
// SIGCONT reaches every detector in the process.
func TestDetectorAddsNoTraffic(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
		if err != nil {
			t.Fatal(err)
		}
		var written atomic.Int64
		base := session.Config{}.Dialer()
		var (
			mu     sync.Mutex
			events []driver.Event
			online = make(chan struct{}, 16)
		)
		d, err := driver.New(driver.Config{
			Session: session.Config{
				JID: "alice@" + srv.Domain(), Password: integration.Password, Addr: srv.Addr(), TLS: tlsCfg,
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := base.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return countingConn{c, &written}, nil
				},
			},
			IdleProbe: -1, // only the detector could make traffic
			// Checks every 50 ms: 60 of them in the quiet period below.
			Detect: &suspend.DetectorOptions{Interval: 50 * time.Millisecond, LateAfter: 2 * time.Second, NoNetwork: true},
			OnEvent: func(e driver.Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
				if s, ok := e.(driver.StateChanged); ok && s.State == driver.Online {
					online <- struct{}{}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		defer func() {
			cancel()
			<-done
		}()
		select {
		case <-online:
		case <-time.After(30 * time.Second):
			t.Fatal("not online in 30 s")
		}
		// Let the login's last exchanges (the presence, its <a/>) finish.
		if err := d.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)

		before := written.Load()
		time.Sleep(3 * time.Second) // quiet: the length of the idle period
		if n := written.Load() - before; n != 0 {
			t.Fatalf("an idle client wrote %d bytes with the detector on", n)
		}
		mu.Lock()
		for _, e := range events {
			if w, ok := e.(driver.Woke); ok {
				t.Errorf("the detector reported %+v on a healthy idle client", w)
			}
		}
		mu.Unlock()

		// The detector is live: a SIGCONT makes one probe.
		if err := syscall.Kill(os.Getpid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-online:
		case <-time.After(30 * time.Second):
			t.Fatal("not online again after the SIGCONT")
		}
		if written.Load() == before {
			t.Error("no probe after a SIGCONT")
		}
		mu.Lock()
		defer mu.Unlock()
		var woke *driver.Woke
		for _, e := range events {
			if w, ok := e.(driver.Woke); ok {
				woke = &w
			}
			if s, ok := e.(driver.StateChanged); ok && s.State == driver.Resuming && woke == nil {
				t.Error("resuming before the woke event that caused it")
			}
		}
		if woke == nil || woke.Cause != suspend.Continued || woke.Action != reconnect.WakeProbe {
			t.Fatalf("woke %+v, want a SIGCONT and a probe", woke)
		}
	})
}
