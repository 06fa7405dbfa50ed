package reconnect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

type attemptResult struct {
	sess conn
	err  error
}

type probeResult struct {
	sess conn
	err  error
	took time.Duration
}

// loop is the state of Run, owned by its goroutine alone.
type loop struct {
	c  *Client
	bo *fullJitter
	st *session.State

	sess     conn
	sessDone <-chan struct{}

	attempt       int
	attemptAt     time.Time     // when the attempt under way (or the last one) started
	attemptSlept  time.Duration // Client.slept then (wake.go)
	retryAt       time.Time     // when retry fires
	attemptCh     chan attemptResult
	attemptCancel context.CancelFunc

	retry   *time.Timer
	retryC  <-chan time.Time
	idle    *time.Timer
	idleC   <-chan time.Time
	probeCh chan probeResult
	probeX  context.CancelFunc
	// probeWait are the Probe calls waiting for the probe under way.
	probeWait []chan probeResult

	paused    bool // suspended: nothing happens until unpause
	held      bool // after detach or logout: no login until unpause
	wasOnline bool
	resuming  bool // the probe under way follows an unpause
}

// Run connects and keeps the client connected until ctx ends (it returns
// ctx.Err()), a permanent error occurs (a *PermanentError), or
// Backoff.GiveUpAfter passes without a login (ErrGaveUp). On return the
// connection is dropped without ending the stream, so that a later client
// with the same State can resume it. Run may be called once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("reconnect: Run called twice")
	}
	c.started, c.running = true, true
	c.mu.Unlock()
	c.d.start()
	defer c.d.close()

	l := &loop{c: c, bo: newBackOff(c.cfg.Backoff, c.randn), st: c.cfg.State}
	err := l.run(ctx)
	l.stop()
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	close(c.stopped)
	c.setStatus(Offline, err)
	return err
}

func (c *Client) setStatus(s Status, err error) {
	c.mu.Lock()
	changed := c.status != s
	c.status = s
	c.mu.Unlock()
	if changed || err != nil {
		c.emit(StatusChanged{Status: s, Err: err})
	}
}

func (l *loop) run(ctx context.Context) error {
	c := l.c
	c.setStatus(Connecting, nil)
	l.startAttempt(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()

		case cmd := <-c.cmds:
			cmd.reply <- l.command(ctx, cmd)

		case r := <-l.attemptCh:
			l.attemptCh, l.attemptCancel = nil, nil
			if err := l.attempted(ctx, r); err != nil {
				return err
			}

		case <-l.retryC:
			l.retryC = nil
			l.startAttempt(ctx)

		case <-l.sessDone:
			if err := l.lost(ctx); err != nil {
				return err
			}

		case <-l.idleC:
			l.idleC = nil
			l.startProbe(ctx, false)

		case r := <-l.probeCh:
			l.probeCh, l.probeX = nil, nil
			l.probed(ctx, r)
		}
	}
}

// startAttempt starts one login in the background.
func (l *loop) startAttempt(ctx context.Context) {
	if l.attemptCh != nil || l.sess != nil || l.paused || l.held {
		return
	}
	l.attempt++
	l.attemptAt, l.attemptSlept = time.Now(), l.c.slept()
	actx, cancel := context.WithCancel(ctx)
	ch := make(chan attemptResult, 1)
	l.attemptCh, l.attemptCancel = ch, cancel
	cfg, st, connect := l.c.cfg.Session, l.st, l.c.connect
	go func() {
		s, err := connect(actx, cfg, st)
		ch <- attemptResult{sess: s, err: err}
	}()
}

// cancelAttempt abandons a login under way and waits for it to give the
// State back.
func (l *loop) cancelAttempt() {
	if l.attemptCh == nil {
		return
	}
	l.attemptCancel()
	r := <-l.attemptCh
	l.attemptCh, l.attemptCancel = nil, nil
	if r.sess != nil {
		r.sess.Abort()
	}
}

func (l *loop) attempted(ctx context.Context, r attemptResult) error {
	c := l.c
	if r.err != nil {
		if permanent(r.err) {
			return &PermanentError{Err: r.err}
		}
		if l.paused || l.held {
			return nil
		}
		delay, ok := l.bo.Next()
		if !ok {
			return fmt.Errorf("%w: last error: %w", ErrGaveUp, r.err)
		}
		c.log.Info("login failed", slog.Int("attempt", l.attempt), slog.Duration("retry_in", delay), slog.Any("err", r.err))
		c.emit(Retrying{Attempt: l.attempt, Delay: delay, Err: r.err})
		l.armRetry(delay)
		return nil
	}

	s := r.sess
	l.sess, l.sessDone = s, s.Done()
	l.bo.Reset()
	attempt := l.attempt
	l.attempt = 0
	l.wasOnline = true

	// CSI as the application last asked.
	c.mu.Lock()
	inactive := c.inactive
	c.mu.Unlock()
	st := s.State()
	c.mu.Lock()
	c.sendBound = st.SendBound(c.cfg.Session.MaxSendBytes)
	c.mu.Unlock()
	if st.Inactive != inactive {
		_ = s.SetActive(!inactive)
	}

	// The offline queue goes out first, in order, before any new Send. A
	// message leaves the queue only once the session has it (in its
	// State, saved): a copy on disk has it at least once, never not at
	// all. The session reports each (session.Sent).
	c.sendMu.Lock()
	flushed := false
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.mu.Unlock()
			break
		}
		m := c.queue[0]
		c.mu.Unlock()
		if _, err := s.SendMessage(ctx, m); err != nil {
			if !errors.Is(err, session.ErrTooLarge) {
				break
			}
			// Queued before the bound existed (a state file's outbox):
			// never sendable, so it must not hold up the others.
			c.emit(Failed{Stanza: session.Ref{Kind: "message", ID: m.ID, To: m.To}, Reason: err.Error()})
		}
		c.mu.Lock()
		c.queue = c.queue[1:]
		c.mu.Unlock()
		flushed = true
	}
	if flushed {
		if err := c.trySave(); err != nil {
			// As when a session's save panics: permanent. Run's end
			// aborts the session.
			c.sendMu.Unlock()
			return &PermanentError{Err: err}
		}
	}
	c.mu.Lock()
	c.sess, c.online = s, true
	c.mu.Unlock()
	c.sendMu.Unlock()

	c.emit(Connected{Login: s.Login(), Attempt: attempt})
	if l.paused {
		c.setStatus(Suspended, nil)
		return nil
	}
	c.setStatus(Online, nil)
	l.armIdle()
	return nil
}

// lost handles the end of the session.
func (l *loop) lost(ctx context.Context) error {
	c := l.c
	s := l.sess
	err := s.Err()
	l.dropSession()
	if l.held {
		return nil
	}
	if permanent(err) {
		return &PermanentError{Err: err}
	}
	c.emit(Dead{Err: err})
	if l.paused {
		// Found out at the next unpause.
		return nil
	}
	c.setStatus(Reconnecting, err)
	if l.resuming {
		// Found dead by the probe on resume from this client's own
		// suspension, not dropped by a server restart: there is no storm
		// to spread, repair at once.
		l.resuming = false
		l.startAttempt(ctx)
		return nil
	}
	// The server may have dropped every client at once (a restart), or be
	// too loaded to acknowledge within the ack timeout (session.
	// ErrAckTimeout: a path that went silent looks the same): the first
	// attempt waits a random moment, at most Backoff.Initial (1 s), so
	// they do not all come back together (RFC 6120 §3.3).
	delay, ok := l.bo.Next()
	if !ok {
		return fmt.Errorf("%w: %w", ErrGaveUp, err)
	}
	l.armRetry(delay)
	return nil
}

func (l *loop) dropSession() {
	c := l.c
	c.mu.Lock()
	c.sess, c.online = nil, false
	c.mu.Unlock()
	l.sess, l.sessDone = nil, nil
	l.stopIdle()
	l.cancelProbe()
}

func (l *loop) startProbe(ctx context.Context, resuming bool) {
	if l.sess == nil || l.probeCh != nil {
		return
	}
	l.resuming = resuming
	pctx, cancel := context.WithCancel(ctx)
	ch := make(chan probeResult, 1)
	l.probeCh, l.probeX = ch, cancel
	s, timeout := l.sess, l.c.cfg.ProbeTimeout
	go func() {
		start := time.Now()
		err := s.Probe(pctx, timeout)
		ch <- probeResult{sess: s, err: err, took: time.Since(start)}
	}()
}

// cancelProbe stops the probe under way, if any; its waiters learn that
// there is no live connection to probe any more.
func (l *loop) cancelProbe() {
	if l.probeX != nil {
		l.probeX()
		l.probeX, l.probeCh = nil, nil
	}
	l.answerProbe(probeResult{err: ErrNotOnline})
}

// answerProbe gives r to the Probe calls waiting.
func (l *loop) answerProbe(r probeResult) {
	for _, w := range l.probeWait {
		w <- r // buffered, one result each
	}
	l.probeWait = nil
}

func (l *loop) probed(ctx context.Context, r probeResult) {
	c := l.c
	if r.sess != l.sess {
		return // a probe of a connection already replaced
	}
	l.answerProbe(r)
	if r.err == nil {
		if l.resuming {
			c.setStatus(Online, nil)
		}
		l.resuming = false
		l.armIdle()
		return
	}
	if errors.Is(r.err, context.Canceled) {
		return
	}
	// Dead: repair at once. The failure was found by the client, not caused
	// by a server restart, so there is no storm to spread.
	s := l.sess
	l.dropSession()
	s.Abort()
	c.emit(Dead{Err: r.err, ByProbe: true, Took: r.took})
	c.setStatus(Reconnecting, r.err)
	l.resuming = false
	l.startAttempt(ctx)
}

func (l *loop) command(ctx context.Context, cmd command) error {
	c := l.c
	switch cmd.kind {
	case "pause":
		if l.paused {
			return nil
		}
		l.paused = true
		l.cancelAttempt()
		l.stopRetry()
		l.stopIdle()
		l.cancelProbe()
		c.setStatus(Suspended, nil)
		return nil

	case "unpause":
		wasPaused, wasHeld := l.paused, l.held
		l.paused, l.held = false, false
		if !wasPaused && !wasHeld {
			return nil
		}
		c.setStatus(Resuming, nil)
		if l.sess != nil {
			// Never trust a socket after a suspension: probe it.
			l.startProbe(ctx, true)
			return nil
		}
		l.stopRetry()
		l.startAttempt(ctx)
		return nil

	case "wake":
		l.wake(ctx, cmd.reason)
		return nil

	case "detach", "logout":
		l.held = true
		l.cancelAttempt()
		l.stopRetry()
		var err error
		if s := l.sess; s != nil {
			l.dropSession()
			if cmd.kind == "detach" {
				err = s.Detach()
			} else {
				lctx := cmd.ctx
				if lctx == nil {
					lctx = ctx
				}
				err = s.Close(lctx)
			}
		}
		if !l.paused {
			c.setStatus(Offline, nil)
		}
		return err

	case "probe":
		if l.sess == nil || l.paused {
			return ErrNotOnline
		}
		l.probeWait = append(l.probeWait, cmd.probed)
		l.startProbe(ctx, l.resuming)
		return nil

	case "active":
		c.mu.Lock()
		c.inactive = !cmd.active
		c.mu.Unlock()
		if l.sess != nil {
			return l.sess.SetActive(cmd.active)
		}
		if l.attemptCh == nil {
			l.st.Inactive = !cmd.active
		}
		return nil
	}
	return fmt.Errorf("reconnect: unknown command %q", cmd.kind)
}

func (l *loop) armRetry(d time.Duration) {
	l.stopRetry()
	l.retryAt = time.Now().Add(d)
	l.retry = time.NewTimer(d)
	l.retryC = l.retry.C
}

func (l *loop) stopRetry() {
	if l.retry != nil {
		l.retry.Stop()
	}
	l.retry, l.retryC = nil, nil
}

func (l *loop) armIdle() {
	l.stopIdle()
	if l.c.cfg.IdleProbe < 0 {
		return
	}
	l.idle = time.NewTimer(l.c.cfg.IdleProbe)
	l.idleC = l.idle.C
}

func (l *loop) stopIdle() {
	if l.idle != nil {
		l.idle.Stop()
	}
	l.idle, l.idleC = nil, nil
}

// stop ends everything when Run returns: the connection is dropped without
// ending the stream, so the State stays resumable.
func (l *loop) stop() {
	l.cancelAttempt()
	l.stopRetry()
	if s := l.sess; s != nil {
		l.dropSession()
		s.Abort()
	}
	l.stopIdle()
}
