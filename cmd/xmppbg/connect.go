package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"

	"github.com/xmppbg/xmppbg/session"
)

// account returns the JID from --jid or XMPPBG_JID, its domain, and the
// address to connect to.
func (g *globalOptions) account() (jid, domain, addr string, err error) {
	jid = g.JID
	if jid == "" {
		jid = g.Getenv(envJID)
	}
	if jid == "" {
		return "", "", "", usageErrorf("--jid is required (or set %s)", envJID)
	}
	if err := checkAddress("--jid", jid); err != nil {
		return "", "", "", err
	}
	domain, _, _ = strings.Cut(jid[strings.IndexByte(jid, '@')+1:], "/")
	// Without --addr, package session finds the server through DNS SRV
	// (else the domain's port 5222); the domain stands for it in messages.
	addr = g.Addr
	if addr == "" {
		addr = domain
	} else if err := checkHostPort(addr); err != nil {
		return "", "", "", usageErrorf("invalid --addr %q: %v", sanitize(addr), err)
	}
	return jid, domain, addr, nil
}

// checkHostPort checks a HOST:PORT address: a host and a port number from 1
// to 65535 (a service name is not taken: it would be looked up in
// /etc/services, which the user rarely means).
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT (an IPv6 address in brackets: [::1]:5222)")
	}
	if host == "" {
		return errors.New("no host before the port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("the port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// sessionConfig builds the account's session configuration from the global
// options: JID, password, address and TLS. It warns when certificate checks
// are off.
func (g *globalOptions) sessionConfig() (session.Config, error) {
	o := g.Output()
	jid, domain, _, err := g.account()
	if err != nil {
		return session.Config{}, err
	}
	if g.InsecureSkipVerify && g.CAFile != "" {
		return session.Config{}, usageErrorf("--ca-file and --insecure-skip-verify cannot be used together")
	}
	tlsCfg, err := session.TLSConfig(domain, g.CAFile, g.InsecureSkipVerify)
	if err != nil {
		// A file named on the command line: a usage error, not a network one.
		return session.Config{}, fileError("--ca-file "+g.CAFile, err)
	}
	pw, err := g.password(jid)
	if err != nil {
		return session.Config{}, err
	}
	if g.InsecureSkipVerify {
		o.Warn("--insecure-skip-verify: the server's TLS certificate is not checked; anyone on the network path can read the password and the messages")
	}
	return session.Config{
		JID:          jid,
		Password:     pw,
		Addr:         g.Addr,
		TLS:          tlsCfg,
		DirectTLS:    g.DirectTLS,
		NoSASL2:      g.NoSASL2,
		Logger:       g.logger(),
		LoginTimeout: g.LoginTimeout,
	}, nil
}

// connect logs in with the global options, reporting the "connecting" and
// "online" states. onEvent receives the session's events; warnings among
// them are reported by connect itself.
//
// adjust, when given, may change the configuration before the login (send
// sets NoPresence).
func (g *globalOptions) connect(ctx context.Context, onEvent func(session.Event), adjust ...func(*session.Config)) (*session.Session, error) {
	o := g.Output()
	cfg, err := g.sessionConfig()
	if err != nil {
		return nil, err
	}
	for _, f := range adjust {
		f(&cfg)
	}
	jid, addr := cfg.JID, connectAddr(cfg)
	cfg.OnEvent = func(ev session.Event) {
		if w, ok := ev.(session.Warning); ok {
			o.Warn(w.Text)
		}
		if onEvent != nil {
			onEvent(ev)
		}
	}
	o.Status("state", "", F("state", "connecting"), F("jid", jid), F("addr", addr))
	s, err := session.Connect(ctx, cfg, nil)
	if err != nil {
		o.Status("state", "", F("state", "offline"), F("jid", jid))
		return nil, connectError(jid, addr, err)
	}
	login := s.Login()
	o.Status("state", "", F("state", "online"), F("jid", s.JID()), F("addr", login.Addr), F("sm", login.SM))
	return s, nil
}

// offline reports the "offline" state after a session ended.
func (g *globalOptions) offline(s *session.Session, reason string) {
	fields := []Field{F("state", "offline"), F("jid", s.JID())}
	if reason != "" {
		fields = append(fields, F("error", reason))
	}
	g.Output().Status("state", "", fields...)
}

// connectError is the error of a failed login, explained for the user.
func connectError(jid, addr string, err error) error {
	if notXMPP(err) {
		// The wrong port, most likely: a connection error.
		err = fmt.Errorf("%w: %w", errNotXMPP, err)
	}
	return &cliError{msg: describeConnectError(jid, addr, err), err: err}
}

// errNotXMPP marks a login to an endpoint that does not speak XMPP (exit 5).
var errNotXMPP = errors.New("not an XMPP server")

// notXMPP reports a login that failed because what answered is not an XMPP
// server: its first bytes are not an XML stream (an SSH banner, an HTTP
// answer, TLS records on a port expecting STARTTLS).
func notXMPP(err error) bool {
	var syn *xml.SyntaxError
	if errors.As(err, &syn) {
		return true
	}
	// mellium's words (v0.22) for text where the stream header should be.
	msg := err.Error()
	return strings.Contains(msg, "unexpected stream-level chardata") || strings.Contains(msg, "expected stream:stream")
}

// fileError is a usage error (exit 2) about a file named by a flag or the
// configuration: what names the file, then the reason; err stays wrapped.
func fileError(what string, err error) error {
	return &usageError{&cliError{msg: what + ": " + fileErrText(err), err: err}}
}

// fileErrText is the reason a file could not be read, without Go's
// "open NAME:" (the caller names the file) or a package prefix.
func fileErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return userText(err)
}

// connectAddr is where cfg connects, for messages: its address, or the
// JID's domain when the server is found through DNS SRV.
func connectAddr(cfg session.Config) string {
	if cfg.Addr != "" {
		return cfg.Addr
	}
	_, domain, _ := strings.Cut(cfg.JID, "@")
	domain, _, _ = strings.Cut(domain, "/")
	return domain
}

// describeConnectError explains a failed login to the user.
func describeConnectError(jid, addr string, err error) string {
	var se *session.StreamError
	if errors.As(err, &se) && se.Condition == "host-unknown" {
		domain := jid[strings.IndexByte(jid, '@')+1:]
		domain, _, _ = strings.Cut(domain, "/")
		return fmt.Sprintf("the server at %s does not serve %s (host-unknown): check the domain of --jid, or --addr", addr, domain)
	}
	if errors.Is(err, errNotXMPP) {
		return fmt.Sprintf("what answered at %s is not an XMPP server: no XMPP server on that port? (XMPP clients use 5222, or 5223 for direct TLS)", addr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no login to %s as %s in time: the server did not answer (is %s an XMPP server, and reachable?)", addr, jid, addr)
	}
	var (
		auth *session.AuthError
		cert *session.CertificateError
		tlsE *session.TLSError
		conn *session.ConnError
	)
	switch {
	case errors.As(err, &auth) && auth.Condition == session.CondServerAuthFailed:
		return "the server at " + addr + " could not prove that it knows the credentials of " + jid +
			" (wrong SCRAM server signature): it may not be the real server; the password is not the problem"
	case errors.As(err, &auth):
		msg := "authentication as " + jid + " failed (" + auth.Condition
		if auth.Text != "" && auth.Text != auth.Condition {
			msg += ": " + auth.Text
		}
		return msg + "): check the JID and the password"
	case errors.As(err, &tlsE):
		return fmt.Sprintf("no secure connection to the server at %s: %s; xmppbg never continues without TLS", addr, tlsE.Reason)
	case errors.As(err, &cert):
		return fmt.Sprintf("the TLS certificate of the server at %s is not trusted (%v): give its CA certificate with --ca-file FILE, or, for a test server only, turn verification off with --insecure-skip-verify", addr, cert.Err)
	case errors.As(err, &conn):
		return fmt.Sprintf("cannot connect to %s: %v", addr, conn.Err)
	case errors.Is(err, session.ErrConfig):
		return userText(err)
	}
	return fmt.Sprintf("connecting to %s as %s: %s", addr, jid, userText(err))
}
