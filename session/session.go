package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Login describes how Connect established the session.
type Login struct {
	// Resumed is true when an earlier stream was resumed (XEP-0198): nothing
	// was lost and the server's queued stanzas follow.
	Resumed bool
	// ResumeFailed is set when the server refused to resume the earlier
	// stream; a fresh session was opened instead.
	ResumeFailed *ResumeFailedError
	// ResumeSkipped explains why no resumption was tried although there was
	// an earlier stream (e.g. its maximum resumption time had passed).
	ResumeSkipped ResumeSkip
	// SM reports that stream management is on for this stream.
	SM bool
	// CSI reports that the server offers client state indication (XEP-0352).
	CSI bool
	// SASL2 reports that the login used SASL2 (XEP-0388) with Bind2, and
	// Mechanism which SASL mechanism authenticated it: an HT-SHA-256-*
	// one for a FAST token (XEP-0484), else SCRAM or PLAIN (empty after
	// a classic login).
	SASL2     bool
	Mechanism string
	// Archived counts the messages found in the archive (XEP-0313) after a
	// stream that could not be resumed; duplicates of what offline storage
	// delivered are among them and were dropped.
	Archived int
	// Addr is the address the connection was made to.
	Addr string
	// Duration is how long Connect took.
	Duration time.Duration
}

// Fresh reports whether this is a new session rather than a resumed one.
func (l Login) Fresh() bool { return !l.Resumed }

// Session is one XMPP stream over one TCP connection, with XEP-0198 stream
// management when the server offers it. Create one with Connect. Its methods
// are safe for concurrent use.
type Session struct {
	cfg  Config
	log  *slog.Logger
	xs   *xmpp.Session
	raw  *meteredConn
	wire net.Conn // what to write on: the TLS connection
	pipe *pipeConn
	// early records what was pipelined after SASL (see pipeline.go).
	early struct {
		resume, bind, enable bool
		bindID               string
	}
	// sendMax bounds an outgoing message (State.SendBound), set once
	// during Connect and only read after.
	sendMax int
	// delayLen is what a resend adds to a message (delayOverhead of the
	// bound JID), set with sendMax.
	delayLen int
	jid      jid.JID
	login    Login
	// tlsErr is why STARTTLS failed, if it did; bound is set once a
	// resource is bound or a stream resumed. verifyLogin checks both.
	tlsErr error
	bound  bool

	// notes delivers events to Config.OnEvent, in order, on a goroutine of
	// its own (notify.go).
	notes *notifier

	// qmu, the stanza lock (a channel, so that waiting respects a
	// context), is held from the moment a stanza joins the unacked queue
	// until it is written, so that queue order is wire order; Persist runs
	// under it. wmu, the write lock, is held only while bytes are written:
	// the read loop takes it to answer <r/> and never waits for a disk.
	// Lock order: qmu, then wmu, then mu.
	qmu chan struct{}
	wmu sync.Mutex

	// prevAlive is when the stream this login replaces was last alive.
	prevAlive time.Time

	// pmu serialises Persist calls so that copies are saved in order.
	pmu sync.Mutex

	mu        sync.Mutex
	st        *State
	sm        bool
	csi       bool
	rOut      int    // <r/> sent and not yet answered
	rSent     uint64 // total <r/> sent
	rAnswered uint64 // total <a/> that answered an <r/>
	acks      uint64 // total <a/> received
	ackWake   chan struct{}
	iqs       map[string]chan *inIQ
	csiTarget uint64 // the <r/> whose answer confirms the last CSI state
	// The ack timeout (acktimeout.go): the timer runs while stanzas wait
	// for an <a/>. Without stream management, pinging is set while a ping
	// follows sent stanzas, unpinged when one was written since.
	ackTimer *ackDeadline
	pinging  bool
	unpinged bool
	mamQuery string // the queryid of the archive query under way
	mamSeen  int    // archived messages read for it
	// mamSkip is the span of State.ArchiveLive the catch-up's results are
	// in (read loop), liveFirst the first archive id of the span this
	// session's live messages extend (event goroutine); both under mu.
	mamSkip   *ArchiveSpan
	liveFirst string
	// pendingSeen holds the de-duplication keys of messages queued for the
	// application and not yet remembered in the State.
	pendingSeen map[uint64]bool
	atLocation  bool     // the login was at the resumption location
	atLast      bool     // the login was at the last session's server (srv.go)
	guessFailed bool     // direct TLS failed at a port guessed (srv.go)
	dialed      endpoint // where the connection goes
	ending      error    // why the client is ending the connection
	err         error
	done        chan struct{}
}

// credentialsRefused reports SASL failure conditions (RFC 6120 §6.5) that
// say the account's credentials are wrong or unusable, wherever presented.
func credentialsRefused(cond string) bool {
	switch cond {
	case "not-authorized", "account-disabled", "credentials-expired", "invalid-authzid":
		return true
	}
	return false
}

// Connect dials, secures, authenticates and binds a session for cfg, or resumes
// the stream st describes. st is taken over by the session and kept current;
// it may be nil for a fresh start. After Connect returns, with or without an
// error, st is still the account's state: pass it to the next Connect.
// Another account's st (its JID names another bare JID) is refused with
// ErrConfig before anything is sent: its messages would go out from this
// account.
//
// With a resumable st, Connect sends <resume/>; if the server resumes, the
// stanzas it did not get are sent again, in order, before Connect returns. If
// it refuses, or st is too old to be resumed, Connect opens a fresh session:
// bind, enable stream management, initial presence, then the unconfirmed
// messages again, with a XEP-0203 delay and their origin-id.
func Connect(ctx context.Context, cfg Config, st *State) (*Session, error) {
	start := time.Now()
	cfg, j, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Password == "" {
		return nil, errNoPassword
	}
	if st == nil {
		st = &State{}
	}
	if st.JID != "" && normalAccount(st.JID) != j.Bare().String() {
		// Its stanzas would be resent from this account, its
		// resumption id and FAST token offered for it.
		return nil, fmt.Errorf("%w: the State belongs to %s, not to %s", ErrConfig, normalAccount(st.JID), j.Bare())
	}
	s := &Session{
		cfg:         cfg,
		log:         cfg.Logger.With(slog.String("jid", j.Bare().String())),
		st:          st,
		ackWake:     make(chan struct{}),
		iqs:         make(map[string]chan *inIQ),
		done:        make(chan struct{}),
		qmu:         make(chan struct{}, 1),
		pendingSeen: make(map[uint64]bool),
	}
	s.notes = newNotifier(cfg.OnEvent, s.handled)
	s.ackTimer = s.newAckDeadline("ack timer", s.deadByAckTimeout)
	xs, err := s.open(ctx, j)
	if err != nil {
		// Events of a failed login (an <a/> count in <resumed/> or
		// <failed h/>) are still delivered, before Connect returns.
		s.notes.close()
		s.notes.wait()
		if retry := s.retryLogin(err); retry && ctx.Err() == nil {
			return Connect(ctx, cfg, st)
		}
		// Refused credentials are refused at every node of the service
		// (and servers count failed logins): no other address is tried.
		var ae *AuthError
		retryElsewhere := ctx.Err() == nil && !(errors.As(err, &ae) && credentialsRefused(ae.Condition))
		if s.atLocation && retryElsewhere {
			// The resumption location answered but the login there
			// failed (its certificate, its stream): XEP-0198 says to
			// use the normal connection method then, not to give up.
			s.log.Info("login at the resumption location failed, using the normal address", slog.Any("err", err))
			st.Location = ""
			return Connect(ctx, cfg, st)
		}
		if s.guessFailed && retryElsewhere {
			// Direct TLS failed where no SRV record pointed (the
			// domain on DefaultDirectTLSPort): something else may
			// listen there. STARTTLS on DefaultPort next (srv.go).
			s.log.Info("direct TLS failed on the customary port, trying STARTTLS", slog.String("addr", s.dialed.addr), slog.Any("err", err))
			cfg.DirectTLS = false
			return Connect(ctx, cfg, st)
		}
		if s.atLast && retryElsewhere {
			// The same for the last session's server (srv.go): it
			// answered, the login there failed; look the domain up again.
			s.log.Info("login at the last session's server failed, looking the domain up again", slog.Any("err", err))
			st.Server, st.ServerDirectTLS = "", false
			return Connect(ctx, cfg, st)
		}
		return nil, err
	}
	if cfg.negotiated != nil {
		cfg.negotiated()
	}
	s.xs = xs
	s.wire = xs.Conn()
	s.jid = xs.LocalAddr()
	s.mu.Lock()
	s.st.JID = s.jid.String()
	s.st.LastAlive = cfg.now()
	s.st.Closed = time.Time{}
	s.rememberServer(s.dialed)
	s.sendMax = s.st.SendBound(cfg.MaxSendBytes)
	s.delayLen = delayOverhead(s.jid.Bare().String())
	s.login.SM = s.sm
	s.login.CSI = s.csi
	s.mu.Unlock()
	if err := s.persist(); err != nil {
		s.raw.Close()
		s.notes.close()
		s.notes.wait()
		return nil, err
	}

	if s.login.Resumed {
		// Before the read loop starts: nothing may be written between
		// <resumed/> and the end of the resend.
		if err := s.resendAfterResume(); err != nil {
			s.raw.Close()
			s.notes.close()
			s.notes.wait()
			return nil, err
		}
	}
	go s.readLoop(streamFeaturesSkipper{r: xs.TokenReader()})
	s.cfg.pauseAt("reading")

	if err := s.afterLogin(ctx); err != nil {
		s.Abort()
		return nil, err
	}
	s.login.Duration = time.Since(start)
	s.log.Debug("session up", slog.Bool("resumed", s.login.Resumed), slog.Bool("sm", s.login.SM), slog.Duration("took", s.login.Duration))
	return s, nil
}

// open dials, secures, authenticates and binds (or resumes), bounded by the
// login timeout.
func (s *Session) open(ctx context.Context, j jid.JID) (*xmpp.Session, error) {
	cfg, st := s.cfg, s.st

	s.prevAlive = st.LastAlive
	// One deadline bounds the whole login, dialing included (a black-holed
	// host would otherwise hold the dial for minutes of SYN retries).
	deadline := time.Now().Add(cfg.LoginTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-10*time.Millisecond).Before(deadline) {
		deadline = d.Add(-10 * time.Millisecond)
	}
	dial := func(addr string, d time.Time) (net.Conn, error) {
		dctx, cancel := context.WithDeadline(ctx, d)
		defer cancel()
		return cfg.Dial(dctx, "tcp", addr)
	}
	addr := cfg.Addr
	if st.Location != "" && st.Resumable(cfg.now()) {
		addr = st.Location
	}
	var conn net.Conn
	var err error
	if addr != cfg.Addr {
		// The location gets half the time, so the normal address still
		// has a chance when it is silent (XEP-0198 §5: on failure, use
		// the normal connection method).
		conn, err = dial(addr, time.Now().Add(time.Until(deadline)/2))
		s.atLocation = err == nil
		if err != nil {
			s.log.Info("resumption location unreachable, using the normal address", slog.String("location", addr), slog.Any("err", err))
			addr = cfg.Addr
		}
	}
	if conn == nil {
		// Addr, or the servers DNS SRV names for the domain (srv.go).
		var ep endpoint
		conn, ep, err = s.dialDiscovered(ctx, dial, deadline)
		addr, cfg.DirectTLS = ep.addr, ep.directTLS
		s.dialed = ep
	}
	if err != nil {
		return nil, &ConnError{Op: "dial", Err: err}
	}
	s.login.Addr = addr
	s.raw = newMeteredConn(conn, cfg.MaxStanzaBytes)

	// mellium resets socket deadlines when the context ends during
	// negotiation; a deadline on the socket itself, earlier than the
	// context's, is what bounds a stalled login, and closing the socket
	// when ctx is cancelled is what ends it at once.
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// Each write (a stanza, or a resend of several) goes out as one TLS
	// record when under 16 KiB: Go's dynamic record sizing would cut a
	// stanza into records of about 1.2 KB early in a connection, and a
	// connection torn between them leaves half a stanza at the server,
	// which Prosody (0.12 and 13) then parses together with the resumed
	// connection's bytes, breaking the resumed stream
	// (TestIntegrationTearOneRecordPerStanza).
	tlsBase := cfg.TLS.Clone()
	tlsBase.DynamicRecordSizingDisabled = !cfg.dynamicRecords
	var rw net.Conn = s.raw
	switch {
	case cfg.DirectTLS:
		// XEP-0368: TLS from the first byte, announced by ALPN.
		tlsCfg := tlsBase.Clone()
		tlsCfg.NextProtos = []string{"xmpp-client"}
		tc := tls.Client(s.raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			s.guessFailed = s.dialed.guess && time.Now().Before(deadline)
			return nil, s.loginError(ctx, err)
		}
		s.pipe = newPipeConn(tc, cfg.MaxStanzaBytes)
		rw = s.pipe
	case cfg.plaintext:
		s.pipe = newPipeConn(s.raw, cfg.MaxStanzaBytes)
		rw = s.pipe
	}
	// mellium takes only a *tls.Conn as secure from the start; the SASL
	// feature may skip its check when TLS is known to be on.
	tlsKnown := cfg.plaintext || cfg.DirectTLS
	sasl := s.saslFeature(cfg.Password, tlsKnown)
	features := []xmpp.StreamFeature{sasl, s.bindFeature(), limitsFeature()}
	if s.sasl2On() {
		features = append(features, s.sasl2Feature(tlsKnown, sasl), channelBindingFeature())
	}
	if !cfg.plaintext && !cfg.DirectTLS {
		features = append([]xmpp.StreamFeature{s.startTLS(tlsBase)}, features...)
	}
	xs, err := xmpp.NewSession(ctx, j.Domain(), j, rw, 0, s.negotiator(features, tlsKnown))
	if err == nil {
		err = s.verifyLogin(xs)
	}
	if err != nil {
		conn.Close()
		return nil, s.loginError(ctx, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return xs, nil
}

// JID returns the full JID bound to the stream.
func (s *Session) JID() string { return s.jid.String() }

// Login describes how the session was established.
func (s *Session) Login() Login { return s.login }

// State returns a copy of the stream-management state, for saving. A message
// counts once OnEvent has returned for it: a copy taken while OnEvent runs
// does not include that message yet (Config.Persist gets every copy at the
// right moment).
func (s *Session) State() *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Clone()
}

// Done is closed when the session has ended, for whatever reason.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs. A *ConnError or
// ErrDetached leaves the stream resumable; a *StreamError from the server
// usually does not (the next Connect finds out).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// BytesRead and BytesWritten report the bytes that crossed the TCP connection.
func (s *Session) BytesRead() int64 { return s.raw.read.Load() }

func (s *Session) BytesWritten() int64 { return s.raw.wrote.Load() }

// String describes the session without secrets.
func (s *Session) String() string {
	return "session(" + s.jid.String() + ", sm=" + strconv.FormatBool(s.login.SM) + ")"
}
