package reconnect_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// Probe checks the live connection on demand: an answer is reported with
// how long it took; silence for the probe timeout is a dead connection,
// repaired as after any probe; no connection is ErrNotOnline.
func TestProbeOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, _ := runOnline(t, srv, reconnect.Config{IdleProbe: -1, ProbeTimeout: 3 * time.Second})
		conn := srv.last()

		if took, err := c.Probe(context.Background()); err != nil || took != 0 {
			t.Errorf("Probe of a live connection = %v, %v", took, err)
		}
		if conn.probeCount() != 1 {
			t.Errorf("%d probes, want 1", conn.probeCount())
		}

		conn.mu.Lock()
		conn.probe = session.ErrProbeTimeout
		conn.mu.Unlock()
		// Two callers at once share one probe.
		errc := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := c.Probe(context.Background())
				errc <- err
			}()
		}
		start := time.Now()
		for range 2 {
			if err := <-errc; !errors.Is(err, session.ErrProbeTimeout) {
				t.Errorf("Probe of a silent connection = %v", err)
			}
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("the probe gave up after %v, want the 3s probe timeout", d)
		}
		if conn.probeCount() != 2 {
			t.Errorf("%d probes, want one more", conn.probeCount())
		}
		synctest.Wait()
		if srv.count() != 2 || c.Status() != reconnect.Online {
			t.Errorf("attempts %d, status %v: want a repair", srv.count(), c.Status())
		}

		c.Pause()
		if _, err := c.Probe(context.Background()); !errors.Is(err, reconnect.ErrNotOnline) {
			t.Errorf("Probe while paused = %v, want ErrNotOnline", err)
		}
		// A pause ends the probe under way: its caller learns there is no
		// connection to probe any more.
		c.Unpause()
		synctest.Wait()
		srv.last().mu.Lock()
		srv.last().probe = session.ErrProbeTimeout
		srv.last().mu.Unlock()
		go func() {
			_, err := c.Probe(context.Background())
			errc <- err
		}()
		synctest.Wait()
		c.Pause()
		if err := <-errc; !errors.Is(err, reconnect.ErrNotOnline) {
			t.Errorf("Probe ended by a pause = %v, want ErrNotOnline", err)
		}
	})
}
