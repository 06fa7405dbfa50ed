package session

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"sync"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
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
	ResumeSkipped string
	// SM reports that stream management is on for this stream.
	SM bool
	// CSI reports that the server offers client state indication (XEP-0352).
	CSI bool
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
	jid   jid.JID
	login Login
	// tlsErr is why STARTTLS failed, if it did; bound is set once a
	// resource is bound or a stream resumed. verifyLogin checks both.
	tlsErr error
	bound  bool

	// wmu orders writes. It is held while a stanza joins the unacked queue
	// and is written, so that queue order is wire order.
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
	ackWake   chan struct{}
	iqs       map[string]chan *inIQ
	csiTarget uint64 // the <r/> whose answer confirms the last CSI state
	mamQuery  string // the queryid of the archive query under way
	mamSeen   int    // archived messages handled for it
	ending    error  // why the client is ending the connection
	err       error
	done      chan struct{}
}

// Connect dials, secures, authenticates and binds a session for cfg, or resumes
// the stream st describes. st is taken over by the session and kept current;
// it may be nil for a fresh start. After Connect returns, with or without an
// error, st is still the account's state: pass it to the next Connect.
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
	s := &Session{
		cfg:     cfg,
		log:     cfg.Logger.With(slog.String("jid", j.Bare().String())),
		st:      st,
		ackWake: make(chan struct{}),
		iqs:     make(map[string]chan *inIQ),
		done:    make(chan struct{}),
	}

	s.prevAlive = st.LastAlive
	addr := cfg.Addr
	if st.Location != "" && st.Resumable(cfg.now()) {
		addr = st.Location
	}
	conn, err := cfg.Dial(ctx, "tcp", addr)
	if err != nil && addr != cfg.Addr {
		s.log.Info("resumption location unreachable, using the normal address", slog.String("location", addr), slog.Any("err", err))
		addr = cfg.Addr
		conn, err = cfg.Dial(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, &ConnError{Op: "dial", Err: err}
	}
	s.login.Addr = addr
	s.raw = newMeteredConn(conn, cfg.MaxStanzaBytes)

	// mellium resets socket deadlines when the context ends during
	// negotiation; a deadline on the socket itself, earlier than the
	// context's, is what bounds a stalled login.
	deadline := time.Now().Add(cfg.LoginTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-10*time.Millisecond).Before(deadline) {
		deadline = d.Add(-10 * time.Millisecond)
	}
	_ = conn.SetDeadline(deadline)

	var rw net.Conn = s.raw
	switch {
	case cfg.DirectTLS:
		// XEP-0368: TLS from the first byte, announced by ALPN.
		tlsCfg := cfg.TLS.Clone()
		tlsCfg.NextProtos = []string{"xmpp-client"}
		tc := tls.Client(s.raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, s.loginError(ctx, err)
		}
		s.pipe = &pipeConn{Conn: tc}
		rw = s.pipe
	case cfg.plaintext:
		s.pipe = &pipeConn{Conn: s.raw}
		rw = s.pipe
	}
	// mellium takes only a *tls.Conn as secure from the start; the SASL
	// feature may skip its check when TLS is known to be on.
	features := []xmpp.StreamFeature{s.saslFeature(cfg.Password, cfg.plaintext || cfg.DirectTLS), s.bindFeature()}
	if !cfg.plaintext && !cfg.DirectTLS {
		features = append([]xmpp.StreamFeature{s.startTLS(cfg.TLS)}, features...)
	}
	xs, err := xmpp.NewClientSession(ctx, j, rw, features...)
	if err == nil {
		err = s.verifyLogin(xs)
	}
	if err != nil {
		conn.Close()
		return nil, s.loginError(ctx, err)
	}
	_ = conn.SetDeadline(time.Time{})
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
	s.login.SM = s.sm
	s.login.CSI = s.csi
	s.mu.Unlock()

	s.persist()
	go s.readLoop(xs.TokenReader())

	if err := s.afterLogin(ctx); err != nil {
		s.Abort()
		return nil, err
	}
	s.login.Duration = time.Since(start)
	s.log.Debug("session up", slog.Bool("resumed", s.login.Resumed), slog.Bool("sm", s.login.SM), slog.Duration("took", s.login.Duration))
	return s, nil
}

// loginError turns a negotiation failure into the package's typed errors.
func (s *Session) loginError(ctx context.Context, err error) error {
	var (
		se    stream.Error
		auth  *AuthError
		sterr *StreamError
		tlsE  *TLSError
		netE  net.Error
	)
	switch {
	case errors.As(err, &auth), errors.As(err, &sterr), errors.As(err, &tlsE), errors.Is(err, ErrLoginIncomplete):
		return err
	case errors.As(err, &se):
		return &StreamError{Condition: se.Err, Text: streamErrorText(se)}
	}
	if ce := classifyTLS(err); ce != err {
		return ce
	}
	if ctx.Err() != nil {
		return fmt.Errorf("session: login: %w", ctx.Err())
	}
	if errors.As(err, &netE) && netE.Timeout() {
		// The socket deadline (the login timeout, or just before the
		// context's) passed: say so in a way callers can match.
		return &ConnError{Op: "login", Err: fmt.Errorf("%w: %v", context.DeadlineExceeded, err)}
	}
	if errors.As(err, &netE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return &ConnError{Op: "login", Err: err}
	}
	return fmt.Errorf("session: login: %w", err)
}

func streamErrorText(se stream.Error) string {
	for _, t := range se.Text {
		if t.Value != "" {
			return t.Value
		}
	}
	return ""
}

// saslFeature is mellium's SASL feature with SCRAM-SHA-256 first, then
// SCRAM-SHA-1, then PLAIN, with its failures turned into AuthError. TLS is
// always on before it runs: mellium checks that itself unless tlsKnown says
// the connection was secured outside its view (direct TLS, or the in-memory
// tests). After a success it pipelines what follows (see pipeline.go).
func (s *Session) saslFeature(password string, tlsKnown bool) xmpp.StreamFeature {
	f := xmpp.SASL("", password, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain)
	if tlsKnown {
		f.Necessary &^= xmpp.Secure
	}
	negotiate := f.Negotiate
	f.Negotiate = func(ctx context.Context, xs *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiate(ctx, xs, data)
		if err == nil {
			s.armPipeline()
		}
		return mask, rw, asAuthError(err)
	}
	return f
}

// armPipeline prepares what the stream after SASL carries with its header:
// <resume/> when the State can (or should) be resumed, else the bind request
// and, when the server offered stream management before, <enable/>.
func (s *Session) armPipeline() {
	if s.pipe == nil || s.cfg.NoPipelining {
		return
	}
	st := s.st
	smKnown := st.SM && !s.cfg.DisableSM
	switch {
	case smKnown && s.shouldAskResume(st):
		s.early.resume = true
		s.pipe.arm(smResume(st.ID, st.InH))
		return
	case s.shouldAskResume(st) && !s.cfg.DisableSM:
		// A stream to resume, but no word yet that this server does
		// stream management: wait for its features.
		return
	}
	s.early.bind = true
	s.early.bindID = newID()
	b := bindRequest(s.early.bindID)
	if smKnown {
		s.early.enable = true
		b = append(b, enableSM...)
	}
	s.pipe.arm(b)
}

// shouldAskResume: the stream is resumable, or past the server's max with
// stanzas unconfirmed (then <failed h/> says which ones the server has, the
// only way to resend exactly those it lacks).
func (s *Session) shouldAskResume(st *State) bool {
	return st.Resumable(s.cfg.now()) || st.ID != "" && len(st.Unacked) > 0
}

// asAuthError converts mellium's SASL failure (an internal type) into
// AuthError by its shape.
func asAuthError(err error) error {
	if err == nil {
		return nil
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Struct && v.Type().Name() == "Error" && v.Type().PkgPath() == "mellium.im/xmpp/internal/saslerr" {
		cond := "not-authorized"
		if f := v.FieldByName("Condition"); f.IsValid() && f.CanInterface() {
			if s, ok := f.Interface().(fmt.Stringer); ok {
				cond = s.String()
			}
		}
		var text string
		if f := v.FieldByName("Text"); f.IsValid() && f.Kind() == reflect.String {
			text = f.String()
		}
		return &AuthError{Condition: cond, Text: text}
	}
	if errors.Is(err, sasl.ErrAuthn) {
		return &AuthError{Condition: "server-authentication-failed", Text: err.Error()}
	}
	return err
}

// bindFeature replaces mellium's BindResource: it resumes the earlier stream
// when it can, else binds a resource and enables stream management. It is
// keyed on bind so that servers without stream management work too.
func (s *Session) bindFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, xs *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			return xmpp.Ready, nil, s.negotiate(ctx, xs)
		},
	}
}

func (s *Session) negotiate(ctx context.Context, xs *xmpp.Session) error {
	_, smOffered := xs.Feature(nsSM)
	_, s.csi = xs.Feature(nsCSI)
	useSM := smOffered && !s.cfg.DisableSM
	st := s.st

	if s.early.resume || useSM && s.shouldAskResume(st) {
		var el smElement
		var err error
		if s.early.resume {
			el, err = s.readSM(xs)
		} else {
			el, err = s.exchange(xs, smResume(st.ID, st.InH))
		}
		if err != nil {
			return err
		}
		switch el.Name {
		case "resumed":
			acked, err := st.ack(el.H)
			if err != nil {
				return s.violation(xs, err)
			}
			s.sm = true
			st.SM = true
			s.login.Resumed = true
			s.bound = true
			if j, err := jid.Parse(st.JID); err == nil {
				xs.UpdateAddr(j)
			}
			if len(acked) > 0 {
				s.cfg.OnEvent(Acked{Stanzas: refs(acked)})
			}
			return nil
		case "failed":
			rf := &ResumeFailedError{Condition: el.Condition, H: el.H, HKnown: el.HSet}
			if el.HSet {
				acked, err := st.ack(el.H)
				if err != nil {
					// The old stream is gone anyway; keep everything
					// rather than trust a count that cannot be right.
					s.log.Warn("ignoring impossible h in <failed/>", slog.Any("err", err))
					rf.HKnown = false
				} else if len(acked) > 0 {
					s.cfg.OnEvent(Acked{Stanzas: refs(acked)})
				}
			}
			s.login.ResumeFailed = rf
		default:
			return fmt.Errorf("session: unexpected <%s/> in answer to <resume/>", el.Name)
		}
	} else if st.ID != "" {
		if useSM {
			s.login.ResumeSkipped = "the server's maximum resumption time has passed"
		} else {
			s.login.ResumeSkipped = "stream management is off"
		}
	}
	// A fresh stream: whatever the old one left unconfirmed is resent by
	// afterLogin.
	st.orphan()
	st.SM = useSM

	if !s.early.bind {
		s.early.bindID = newID()
		b := bindRequest(s.early.bindID)
		if useSM && !s.cfg.NoPipelining {
			// Pipelined: the server enables after it has bound.
			s.early.enable = true
			b = append(b, enableSM...)
		}
		if _, err := xs.Conn().Write(b); err != nil {
			return err
		}
	}
	bound, err := readBind(xs, s.early.bindID)
	if err != nil {
		return err
	}
	j, err := jid.Parse(bound)
	if err != nil {
		return fmt.Errorf("session: the server bound an invalid JID %q: %w", bound, err)
	}
	xs.UpdateAddr(j)
	s.bound = true
	if !s.early.enable && !useSM {
		return nil
	}
	var el smElement
	if s.early.enable {
		el, err = s.readSM(xs)
	} else {
		el, err = s.exchange(xs, []byte(enableSM))
	}
	if err != nil {
		return err
	}
	switch el.Name {
	case "enabled":
		s.sm = true
		st.SM = true
		if el.Resume {
			st.ID = el.ID
		}
		st.Max = time.Duration(el.Max) * time.Second
		st.Location = el.Location
	case "failed":
		st.SM = false
		s.cfg.OnEvent(Warning{Text: "the server refused stream management (" + el.Condition + "): delivery is not guaranteed"})
	default:
		return fmt.Errorf("session: unexpected <%s/> in answer to <enable/>", el.Name)
	}
	return nil
}

// exchange writes a nonza during negotiation and reads the XEP-0198 element
// that answers it.
func (s *Session) exchange(xs *xmpp.Session, out []byte) (smElement, error) {
	if _, err := xs.Conn().Write(out); err != nil {
		return smElement{}, err
	}
	return s.readSM(xs)
}

// readSM reads the next XEP-0198 element during negotiation.
func (s *Session) readSM(xs *xmpp.Session) (smElement, error) {
	r := xs.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return smElement{}, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			continue
		case xml.StartElement:
			if t.Name.Space != nsSM {
				return smElement{}, fmt.Errorf("session: unexpected <%s xmlns=%q/> during stream management negotiation", t.Name.Local, t.Name.Space)
			}
			return parseSM(d, t)
		default:
			return smElement{}, fmt.Errorf("session: unexpected %T during stream management negotiation", tok)
		}
	}
}

// violation ends the stream with undefined-condition for a protocol error
// found during negotiation.
func (s *Session) violation(xs *xmpp.Session, err error) error {
	_, _ = xs.Conn().Write([]byte(streamErrorXML("undefined-condition")))
	return err
}

func streamErrorXML(cond string) string {
	return `<stream:error><` + cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></stream:stream>`
}

// afterLogin runs once the stream is ready: resend what the server does not
// have, in order and before any new stanza, then the usual login steps on a
// fresh session.
func (s *Session) afterLogin(ctx context.Context) error {
	if s.login.Resumed {
		s.mu.Lock()
		resend := cloneStanzas(s.st.Unacked)
		inactive, pending := s.st.Inactive, s.st.CSIPending
		s.mu.Unlock()
		if len(resend) > 0 {
			s.wmu.Lock()
			var buf []byte
			for _, q := range resend {
				buf = append(buf, q.Raw...)
			}
			buf = append(buf, smRequest...)
			s.mu.Lock()
			s.requestAck()
			s.mu.Unlock()
			err := s.writeLocked(buf)
			s.wmu.Unlock()
			if err != nil {
				return err
			}
			s.cfg.OnEvent(Resent{Stanzas: refs(resend)})
		}
		// CSI is not reliably restored by a resumption, and a state said
		// while the old connection was already dead never arrived: say it
		// again when it is inactive or unconfirmed.
		if s.csi && (inactive || pending) {
			return s.SetActive(!inactive)
		}
		return nil
	}

	if !s.sm {
		s.cfg.OnEvent(Warning{Text: "the server does not offer stream management (XEP-0198): sent messages are not acknowledged and may be lost if the connection breaks"})
	}
	if rf := s.login.ResumeFailed; rf != nil && !rf.HKnown {
		s.cfg.OnEvent(Warning{Text: "resumption failed and the server did not say which stanzas it received: unconfirmed messages are resent with a delay and their origin-id, so receivers may see a duplicate they can drop"})
	}
	if s.cfg.FetchRoster {
		if _, err := s.iq(ctx, "get", "", `<query xmlns="jabber:iq:roster"/>`); err != nil {
			return fmt.Errorf("session: fetching roster: %w", err)
		}
	}
	if !s.cfg.NoPresence {
		if err := s.sendRaw("presence", newID(), "", nil, func(id string) []byte {
			return []byte(`<presence id="` + id + `"/>`)
		}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	orphans := s.st.Orphans
	s.st.Orphans = nil
	inactive := s.st.Inactive
	from := s.jid.Bare().String()
	s.mu.Unlock()
	var resent []Ref
	for i, o := range orphans {
		if o.Kind == "presence" && o.To == "" {
			continue // the fresh session has sent its own initial presence
		}
		if o.Kind != "message" || o.Message == nil {
			s.cfg.OnEvent(Failed{Stanza: refOf(o), Reason: "the stream it was sent on could not be resumed; " + o.Kind + " stanzas are not resent"})
			continue
		}
		m := *o.Message
		sent := o.Sent
		err := s.sendRaw("message", m.ID, m.To, &m, func(string) []byte {
			return encodeMessage(&m, sent, from)
		})
		if err != nil {
			// Keep what is left for the next session.
			s.mu.Lock()
			s.st.Orphans = append(orphans[i:len(orphans):len(orphans)], s.st.Orphans...)
			s.mu.Unlock()
			return err
		}
		s.mu.Lock()
		if n := len(s.st.Unacked); n > 0 {
			s.st.Unacked[n-1].Sent = sent
		}
		s.mu.Unlock()
		resent = append(resent, refOf(o))
	}
	if len(resent) > 0 {
		s.cfg.OnEvent(Resent{Stanzas: resent, Delayed: true})
	}
	if replaced := s.login.ResumeFailed != nil || s.login.ResumeSkipped != ""; replaced && !s.cfg.NoArchive {
		s.mu.Lock()
		since := s.st.LastArchiveID
		s.mu.Unlock()
		start := s.prevAlive.Add(-time.Minute)
		if since != "" || !s.prevAlive.IsZero() {
			// Bounded: a server that does not answer must not hold the
			// login; what the archive holds stays there for next time.
			cctx, cancel := context.WithTimeout(ctx, s.cfg.LoginTimeout)
			n, err := s.catchUp(cctx, since, start)
			cancel()
			var ie *iqError
			switch {
			case errors.As(err, &ie):
				s.log.Debug("no archive catch-up", slog.String("condition", ie.condition))
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				s.cfg.OnEvent(Warning{Text: "the archive (XEP-0313) did not answer in time: messages it holds may arrive later"})
			case err != nil:
				return fmt.Errorf("session: archive catch-up: %w", err)
			default:
				s.login.Archived = n
			}
		}
	}
	if s.csi && inactive {
		return s.SetActive(false)
	}
	s.mu.Lock()
	s.st.CSIPending = false // a fresh stream starts active
	s.mu.Unlock()
	return nil
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
func (s *Session) BytesRead() int64    { return s.raw.read.Load() }
func (s *Session) BytesWritten() int64 { return s.raw.wrote.Load() }

// SendMessage sends a chat message. ID and OriginID are filled in when
// empty; the message as sent is returned.
//
// With stream management, a nil error means the message is in the State: it
// is kept until the server acknowledges it and sent again by the next session
// if this one breaks first (WaitAcked waits for the acknowledgement). An error
// means the message was not taken. Without stream management, a nil error
// only means it was written.
func (s *Session) SendMessage(ctx context.Context, m Message) (Message, error) {
	if m.To == "" {
		return m, errors.New("session: message without recipient")
	}
	if m.ID == "" {
		m.ID = newID()
	}
	if m.OriginID == "" {
		m.OriginID = m.ID
	}
	m.From = ""
	mm := m
	err := s.sendRaw("message", m.ID, m.To, &mm, func(string) []byte {
		return encodeMessage(&mm, time.Time{}, "")
	})
	return m, err
}

// sendRaw sends one stanza built by build, queueing it when stream
// management is on, and requests an acknowledgement when none is
// outstanding.
func (s *Session) sendRaw(kind, id, to string, m *Message, build func(id string) []byte) error {
	raw := build(id)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	buf := raw
	if s.sm {
		s.st.Unacked = append(s.st.Unacked, Stanza{Kind: kind, ID: id, To: to, Sent: s.cfg.now(), Raw: raw, Message: m})
		if s.rOut == 0 {
			buf = append(raw[:len(raw):len(raw)], smRequest...)
			s.requestAck()
		}
	}
	sm := s.sm
	s.mu.Unlock()
	if sm {
		// Saved before it is written: a copy on disk never misses a stanza
		// the server may have.
		s.persist()
	}
	err := s.writeLocked(buf)
	if sm {
		// Queued: the next session sends it again.
		return nil
	}
	return err
}

// writeNonza writes a nonza.
func (s *Session) writeNonza(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(b)
}

// writeLocked writes b with the write timeout; s.wmu must be held. A failed
// write ends the session.
func (s *Session) writeLocked(b []byte) error {
	_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, err := s.wire.Write(b)
	if err != nil {
		err = &ConnError{Op: "write", Err: err}
		s.fail(err)
		return err
	}
	return nil
}

// SetActive tells the server whether the client is active (XEP-0352, client
// state indication), when the server offers it. An inactive client lets the
// server hold back unimportant traffic. The choice is kept in the State and
// said again after a resumption.
func (s *Session) SetActive(active bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.st.Inactive = !active
	s.st.CSIPending = true
	csi, sm := s.csi, s.sm
	b := []byte(csiIdle)
	if active {
		b = []byte(csiActive)
	}
	if csi && sm {
		// The <a/> answering this <r/> proves the server has the new
		// state; until then it is pending, and said again after a
		// resumption (an <active/> written into a connection that turns
		// out dead never arrived).
		b = append(b, smRequest...)
		s.csiTarget = s.requestAck()
	}
	s.mu.Unlock()
	if !csi {
		return nil
	}
	return s.writeLocked(b)
}

// WaitAcked waits until the server has acknowledged the stanza with the given
// id. It returns ErrNotAcked (wrapping why) if the session ends first, and
// ErrNoStreamManagement if there is no stream management.
func (s *Session) WaitAcked(ctx context.Context, id string) error {
	for {
		s.mu.Lock()
		if !s.sm {
			s.mu.Unlock()
			return ErrNoStreamManagement
		}
		pending := false
		for _, q := range s.st.Unacked {
			if q.ID == id {
				pending = true
				break
			}
		}
		wake, sessErr := s.ackWake, s.err
		s.mu.Unlock()
		if !pending {
			return nil
		}
		if sessErr != nil {
			return fmt.Errorf("%w: %w", ErrNotAcked, sessErr)
		}
		select {
		case <-wake:
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotAcked, ctx.Err())
		}
	}
}

// Probe checks that the connection is alive: with stream management it sends
// <r/> and waits for the <a/> that answers it; without, a XEP-0199 ping. It
// returns nil on an answer, ErrProbeTimeout when none came within timeout (a
// silent connection), or the error that ended the session (a *ConnError for
// a broken socket), as soon as it is known.
func (s *Session) Probe(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.mu.Lock()
	sm := s.sm
	s.mu.Unlock()
	if !sm {
		_, err := s.iq(ctx, "get", s.jid.Domain().String(), `<ping xmlns="urn:xmpp:ping"/>`)
		var se *iqError
		switch {
		case err == nil, errors.As(err, &se):
			return nil // any answer proves the connection works
		case errors.Is(err, context.DeadlineExceeded) && s.Err() == nil:
			return ErrProbeTimeout
		}
		return err
	}

	s.wmu.Lock()
	s.mu.Lock()
	target := s.requestAck()
	wake := s.ackWake
	s.mu.Unlock()
	err := s.writeLocked([]byte(smRequest))
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	for {
		select {
		case <-wake:
			s.mu.Lock()
			ok := s.rAnswered >= target
			wake = s.ackWake
			s.mu.Unlock()
			if ok {
				return nil
			}
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			if s.Err() != nil {
				return s.Err()
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ErrProbeTimeout
			}
			return ctx.Err()
		}
	}
}

// Detach ends the connection without ending the stream, so that the server
// keeps it for resumption: a last <a/> so the server can drop what we have,
// then the TCP connection is closed without </stream:stream>. The State stays
// resumable. This is what an app does at the end of its background window.
func (s *Session) Detach() error {
	s.wmu.Lock()
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		s.wmu.Unlock()
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	s.ending = ErrDetached
	h, sm := s.st.InH, s.sm
	s.mu.Unlock()
	var err error
	if sm {
		err = s.writeLocked(smAnswer(h))
	}
	s.wmu.Unlock()
	s.mu.Lock()
	now := s.cfg.now()
	s.st.LastAlive, s.st.Closed = now, now
	s.mu.Unlock()
	s.fail(ErrDetached)
	<-s.done
	s.persist()
	return err
}

// Abort closes the TCP connection at once, without a word to the server. The
// State stays resumable. Use it on a connection already known to be dead.
func (s *Session) Abort() {
	s.mu.Lock()
	if s.ending == nil {
		s.ending = &ConnError{Op: "read", Err: net.ErrClosed}
	}
	if s.st.Closed.IsZero() {
		// The server notices at the latest now (later is safe: the
		// resumption is skipped only once Max has surely passed).
		s.st.Closed = s.cfg.now()
	}
	s.mu.Unlock()
	s.fail(nil)
	<-s.done
}

// Close ends the stream for good: it waits (bounded by ctx) until the server
// has acknowledged everything sent, then sends </stream:stream>, waits briefly
// for the server's, and closes the connection. The server discards the
// stream, so the State is no longer resumable; anything still unacknowledged
// is kept in it and resent by the next session.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	var last string
	if n := len(s.st.Unacked); n > 0 && s.sm {
		last = s.st.Unacked[n-1].ID
	}
	s.mu.Unlock()
	var ackErr error
	if last != "" {
		// Ask now rather than rely on a request already under way.
		s.wmu.Lock()
		s.mu.Lock()
		s.requestAck()
		s.mu.Unlock()
		_ = s.writeLocked([]byte(smRequest))
		s.wmu.Unlock()
		ackErr = s.WaitAcked(ctx, last)
	}

	s.wmu.Lock()
	s.mu.Lock()
	alive := s.err == nil
	if alive {
		s.ending = ErrClosed
	}
	s.mu.Unlock()
	if alive {
		_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_, _ = s.wire.Write([]byte(`</stream:stream>`))
	}
	s.wmu.Unlock()
	if alive {
		t := time.NewTimer(2 * time.Second)
		select {
		case <-s.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.fail(ErrClosed)
	<-s.done
	s.mu.Lock()
	s.st.orphan()
	s.mu.Unlock()
	s.persist()
	if ackErr != nil {
		return fmt.Errorf("session: closed with stanzas unacknowledged: %w", ackErr)
	}
	return nil
}

// fail ends the session once: it records why, closes the connection, and
// wakes everyone waiting.
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if s.ending != nil {
		err = s.ending
	}
	if err == nil {
		err = ErrClosed
	}
	s.err = err
	close(s.ackWake)
	s.ackWake = make(chan struct{})
	s.mu.Unlock()
	if s.raw != nil {
		s.raw.Close()
	}
}

// writeFinal writes the last bytes of a stream (a stream error), bounded by
// the write timeout, and ignores failures: the connection is closed next.
func (s *Session) writeFinal(b string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, _ = s.wire.Write([]byte(b))
}

// readLoop reads the stream until it ends, handling every top-level element.
func (s *Session) readLoop(r xml.TokenReader) {
	defer close(s.done)
	d := xml.NewTokenDecoder(r)
	for {
		s.raw.reset()
		tok, err := d.Token()
		if err != nil {
			s.fail(s.readError(err))
			s.failIQs()
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // whitespace keepalive
		}
		s.mu.Lock()
		s.st.LastAlive = s.cfg.now()
		s.mu.Unlock()
		if err := s.handle(d, start); err != nil {
			var se *StreamError
			if errors.As(err, &se) && se.Local {
				s.writeFinal(streamErrorXML(se.Condition))
			}
			s.fail(err)
			s.failIQs()
			return
		}
	}
}

func (s *Session) readError(err error) error {
	var se stream.Error
	switch {
	case errors.Is(err, ErrStanzaTooLarge):
		s.writeFinal(streamErrorXML("policy-violation"))
		return &StreamError{Condition: "policy-violation", Text: err.Error(), Local: true}
	case errors.As(err, &se):
		return &StreamError{Condition: se.Err, Text: streamErrorText(se)}
	case errors.Is(err, io.EOF):
		return &ConnError{Op: "read", Err: errors.New("the server closed the stream")}
	}
	if isSyntaxError(err) {
		return &StreamError{Condition: "not-well-formed", Text: err.Error(), Local: true}
	}
	return &ConnError{Op: "read", Err: err}
}

// isSyntaxError reports broken XML from the server. encoding/xml reports the
// connection ending inside the stream as a syntax error too: that one is the
// connection's, not the server's XML.
func isSyntaxError(err error) bool {
	var syn *xml.SyntaxError
	return errors.As(err, &syn) && syn.Msg != "unexpected EOF"
}

// handle processes one top-level element.
func (s *Session) handle(d *xml.Decoder, start xml.StartElement) error {
	switch start.Name.Space {
	case nsSM:
		el, err := parseSM(d, start)
		if err != nil {
			return &StreamError{Condition: "undefined-condition", Text: err.Error(), Local: true}
		}
		switch el.Name {
		case "r":
			s.mu.Lock()
			h := s.st.InH
			s.mu.Unlock()
			return s.writeNonza(smAnswer(h))
		case "a":
			return s.onAck(el.H)
		}
		return nil
	case nsClient:
	default:
		return d.Skip()
	}

	switch start.Name.Local {
	case "message":
		var m inMessage
		if err := d.DecodeElement(&m, &start); err != nil {
			return s.decodeError(err)
		}
		msg, ok := m.message(s.jid.Bare().String())
		archiveID := msg.StanzaID
		if !ok {
			var fromArchive bool
			msg, archiveID, ok, fromArchive = s.archived(&m)
			if fromArchive {
				s.mu.Lock()
				s.mamSeen++
				s.mu.Unlock()
			}
		}
		if archiveID != "" {
			s.mu.Lock()
			s.st.LastArchiveID = archiveID
			s.mu.Unlock()
		}
		if ok {
			k, keyed := seenKey(&msg)
			s.mu.Lock()
			dup := keyed && s.st.seen(k)
			s.mu.Unlock()
			if dup {
				s.cfg.OnEvent(Duplicate{Message: msg})
			} else {
				s.cfg.OnEvent(Received{Message: msg})
				if keyed {
					s.mu.Lock()
					s.st.remember(k)
					s.mu.Unlock()
				}
			}
		}
	case "presence":
		var p inPresence
		if err := d.DecodeElement(&p, &start); err != nil {
			return s.decodeError(err)
		}
		s.cfg.OnEvent(Presence{From: p.From, Type: p.Type})
	case "iq":
		var iq inIQ
		if err := d.DecodeElement(&iq, &start); err != nil {
			return s.decodeError(err)
		}
		if err := s.onIQ(&iq); err != nil {
			return err
		}
	default:
		return &StreamError{Condition: "unsupported-stanza-type", Text: start.Name.Local, Local: true}
	}
	// Handled: count it (XEP-0198 §4).
	s.mu.Lock()
	sm := s.sm
	if sm {
		s.st.InH++
	}
	s.mu.Unlock()
	if sm {
		s.persist()
	}
	return nil
}

// persist hands a copy of the state to Config.Persist.
func (s *Session) persist() {
	if s.cfg.Persist == nil {
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.mu.Lock()
	snap := s.st.Clone()
	s.mu.Unlock()
	s.cfg.Persist(snap)
}

// decodeError classifies a failure to decode a stanza: broken XML is the
// server's fault, anything else is the connection's.
func (s *Session) decodeError(err error) error {
	if isSyntaxError(err) {
		return &StreamError{Condition: "not-well-formed", Text: err.Error(), Local: true}
	}
	return s.readError(err)
}

// requestAck records an <r/> about to be written and returns its number:
// the <a/> that answers it is the rSent-th answer. s.mu must be held.
func (s *Session) requestAck() uint64 {
	s.rOut++
	s.rSent++
	return s.rSent
}

// onAck processes <a h='…'/>.
func (s *Session) onAck(h uint32) error {
	s.mu.Lock()
	acked, err := s.st.ack(h)
	if err != nil {
		s.mu.Unlock()
		return &StreamError{Condition: "undefined-condition", Text: err.Error(), Local: true}
	}
	if s.rOut > 0 {
		s.rOut--
		s.rAnswered++
	}
	if s.csiTarget != 0 && s.rAnswered >= s.csiTarget {
		s.csiTarget = 0
		s.st.CSIPending = false
	}
	close(s.ackWake)
	s.ackWake = make(chan struct{})
	again := len(s.st.Unacked) > 0 && s.rOut == 0
	if again {
		s.requestAck()
	}
	s.mu.Unlock()
	if len(acked) > 0 {
		s.persist()
		s.cfg.OnEvent(Acked{Stanzas: refs(acked)})
	}
	if again {
		return s.writeNonza([]byte(smRequest))
	}
	return nil
}

// iqError is an error reply to an iq we sent.
type iqError struct{ condition string }

func (e *iqError) Error() string { return "session: iq error: " + e.condition }

// iq sends an iq of type typ to to (the server when empty) with the given
// payload and waits for the reply.
func (s *Session) iq(ctx context.Context, typ, to, payload string) (*inIQ, error) {
	id := newID()
	ch := make(chan *inIQ, 1)
	s.mu.Lock()
	s.iqs[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.iqs, id)
		s.mu.Unlock()
	}()
	err := s.sendRaw("iq", id, to, nil, func(id string) []byte {
		b := append([]byte(`<iq type="`), typ...)
		b = append(b, '"')
		b = appendAttr(b, "to", to)
		b = appendAttr(b, "id", id)
		b = append(b, '>')
		b = append(b, payload...)
		return append(b, "</iq>"...)
	})
	if err != nil {
		return nil, err
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%w: %w", ErrClosed, s.Err())
		}
		if reply.Type == "error" {
			return reply, &iqError{condition: reply.stanzaError()}
		}
		return reply, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// failIQs wakes every iq waiting for a reply when the session ends.
func (s *Session) failIQs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.iqs {
		close(ch)
		delete(s.iqs, id)
	}
}

// onIQ routes a reply to its waiter and answers requests.
func (s *Session) onIQ(iq *inIQ) error {
	switch iq.Type {
	case "result", "error":
		s.mu.Lock()
		ch := s.iqs[iq.ID]
		delete(s.iqs, iq.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- iq
		}
		return nil
	case "get", "set":
	default:
		return nil
	}
	p := iq.payload()
	ok := p != nil && iq.Type == "get" && p.XMLName.Space == nsPing && p.XMLName.Local == "ping" ||
		p != nil && iq.Type == "set" && p.XMLName.Space == nsRoster && s.fromServerOrSelf(iq.From)
	err := s.sendRaw("iq", iq.ID, iq.From, nil, func(id string) []byte {
		typ := "error"
		if ok {
			typ = "result"
		}
		b := append([]byte(`<iq type="`), typ...)
		b = append(b, '"')
		b = appendAttr(b, "to", iq.From)
		b = appendAttr(b, "id", id)
		if ok {
			return append(b, "/>"...)
		}
		// RFC 6120 §8.4: a request we do not understand gets an error.
		return append(b, `><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`...)
	})
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

func (s *Session) fromServerOrSelf(from string) bool {
	return from == "" || from == s.jid.Bare().String() || from == s.jid.Domain().String()
}

// String describes the session without secrets.
func (s *Session) String() string {
	return "session(" + s.jid.String() + ", sm=" + strconv.FormatBool(s.login.SM) + ")"
}
