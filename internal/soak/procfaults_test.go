//go:build unix

package soak_test

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// The fault cycles of bob, the real process, and of its path to the
// server (an external proxy: faults the client did not cause and is not
// told about).

// pathFault is what happens to bob's path while the process is frozen.
type pathFault int

const (
	pathRST       pathFault = iota + 1 // the live connection is reset
	pathBlackhole                      // the live connection goes silent
)

// restartBob kills bob with SIGKILL, waits a moment as an OS relaunching an
// app would, and starts another process on the same state file.
func (r *rig) restartBob(pause time.Duration) error {
	r.bob.pause(true)
	defer r.bob.pause(false)
	if err := r.bob.kill(); err != nil {
		return err
	}
	time.Sleep(pause)
	return r.bob.start()
}

// killLive kills bob at a random moment while it sends and receives.
func (r *rig) killLive() error {
	time.Sleep(time.Duration(r.rnd.IntN(300)) * time.Millisecond)
	return r.restartBob(time.Duration(r.rnd.IntN(500)) * time.Millisecond)
}

// killDuringLogin kills bob, starts it, and kills it again while it logs
// in or resumes.
func (r *rig) killDuringLogin() error {
	b := r.bob
	b.pause(true)
	defer b.pause(false)
	if err := b.kill(); err != nil {
		return err
	}
	if err := b.startNoWait(); err != nil {
		return err
	}
	time.Sleep(time.Duration(r.rnd.IntN(150)) * time.Millisecond)
	if err := b.kill(); err != nil {
		return err
	}
	return b.start()
}

// killSuspended: bob goes to the background, is suspended, and the OS
// kills it there; the user opens the app again later.
func (r *rig) killSuspended() error {
	b := r.bob
	b.pause(true)
	defer b.pause(false)
	t0 := time.Now()
	if err := b.command(fmt.Sprintf("/bg %dms", 50+r.rnd.IntN(200))); err != nil {
		return err
	}
	if err := b.waitState(t0, "suspended"); err != nil {
		return err
	}
	time.Sleep(time.Duration(r.rnd.IntN(400)) * time.Millisecond)
	if err := b.kill(); err != nil {
		return err
	}
	time.Sleep(time.Duration(r.rnd.IntN(500)) * time.Millisecond)
	return b.start()
}

// killOffline: the server is unreachable; bob keeps typing (messages go to
// the outbox in the state file), is killed, and a new process sends them
// once the server is back.
func (r *rig) killOffline() error {
	b := r.bob
	t0 := time.Now()
	if err := r.proxy.Down(); err != nil {
		return err
	}
	defer func() { _ = r.proxy.Up() }()
	if _, err := b.waitEvent(t0, "dead connection", func(e map[string]any) bool { return e["event"] == "dead" }); err != nil {
		return err
	}
	// Let some lines go to the outbox.
	time.Sleep(time.Duration(100+r.rnd.IntN(400)) * time.Millisecond)
	b.pause(true)
	defer b.pause(false)
	if err := b.kill(); err != nil {
		return err
	}
	if err := r.proxy.Up(); err != nil {
		return err
	}
	return b.start()
}

// freeze stops bob with SIGSTOP for d, during which f (if any) hits its
// path, then continues it.
func (r *rig) freeze(d time.Duration, f pathFault) error {
	b := r.bob
	if err := b.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	half := d / 2
	time.Sleep(half)
	switch f {
	case pathRST:
		if err := r.proxy.ResetPeer(); err != nil {
			return err
		}
	case pathBlackhole:
		if err := r.proxy.Blackhole(); err != nil {
			return err
		}
	}
	time.Sleep(d - half)
	t0 := time.Now()
	if err := b.signal(syscall.SIGCONT); err != nil {
		return err
	}
	switch f {
	case pathRST:
		return b.waitReconnected(t0)
	case pathBlackhole:
		// Data sent into the black hole is gone: the connection must be
		// found dead (SIGCONT or the idle probe) before the path is
		// cleared, and a login started meanwhile waits for its timeout.
		at, err := b.waitEvent(t0, "dead connection", func(e map[string]any) bool { return e["event"] == "dead" })
		if clearErr := r.proxy.Clear(); clearErr != nil && err == nil {
			err = clearErr
		}
		if err != nil {
			return err
		}
		return b.waitState(at, "online")
	}
	return b.waitOnline()
}

// pathReset resets bob's live connection from the path.
func (r *rig) pathReset() error {
	time.Sleep(time.Duration(r.rnd.IntN(200)) * time.Millisecond)
	t0 := time.Now()
	if err := r.proxy.ResetPeer(); err != nil {
		return err
	}
	return r.bob.waitReconnected(t0)
}

// natLost black-holes bob's live connection on the path, both ways, and
// lets new connections through: a NAT that lost the flow's mapping. Only
// his own traffic (the idle probe, the ack timeout) can notice it.
func (r *rig) natLost() error {
	time.Sleep(time.Duration(r.rnd.IntN(200)) * time.Millisecond)
	t0 := time.Now()
	if err := r.proxy.BlackholeLive(); err != nil {
		return err
	}
	return r.bob.waitReconnected(t0)
}

// unreachable takes the server away from bob's path for a while (existing
// connections closed, new ones refused).
func (r *rig) unreachable() error {
	t0 := time.Now()
	if err := r.proxy.Down(); err != nil {
		return err
	}
	time.Sleep(time.Duration(300+r.rnd.IntN(1200)) * time.Millisecond)
	if err := r.proxy.Up(); err != nil {
		return err
	}
	return r.bob.waitReconnected(t0)
}

// procBackground: bob goes to the background with a short window, is
// suspended under the process's policy, and comes back with /resume.
func (r *rig) procBackground() error {
	b := r.bob
	b.pause(true)
	defer b.pause(false)
	t0 := time.Now()
	if err := b.command(fmt.Sprintf("/bg %dms", 50+r.rnd.IntN(250))); err != nil {
		return err
	}
	if err := b.waitState(t0, "suspended"); err != nil {
		return err
	}
	time.Sleep(r.short())
	if err := b.command("/resume"); err != nil {
		return err
	}
	return b.waitOnline()
}

var errNoProcess = errors.New("no process")
